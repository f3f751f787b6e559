"""The deliveries service: the *what* of a delivery (merchants, places, quotes, deliveries and
their attempts). It never reads the operations service's tables; events connect the two."""
