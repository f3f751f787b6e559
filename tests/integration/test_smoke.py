from tests.factories import MerchantClient


def test_a_merchant_quotes_and_orders_a_robot_delivery(merchant: MerchantClient) -> None:
    quote = merchant.quote()
    assert quote["provider"] == "robot"
    delivery = merchant.delivery(quote_id=quote["id"])
    assert delivery["status"] == "pending"
    assert [a["provider"] for a in delivery["attempts"]] == ["robot"]
