"""The courier networks the platform knows, by the name the `courier_provider` setting gives.
An adapter of a real network adds its factory here."""

from collections.abc import Callable, Mapping

from sidewalk.deliveries.providers.courier import CourierProvider, UpdateSink
from sidewalk.deliveries.providers.simulated_courier import SimulatedCourierNetwork
from sidewalk.kernel.clock import Clock
from sidewalk.kernel.settings import Settings
from sidewalk.kernel.uow import UnitOfWork

ProviderFactory = Callable[[Settings, Callable[[], UnitOfWork], Clock, UpdateSink], CourierProvider]


def _simulated(
    settings: Settings, uow: Callable[[], UnitOfWork], clock: Clock, sink: UpdateSink
) -> CourierProvider:
    return SimulatedCourierNetwork.from_settings(settings, uow=uow, clock=clock, sink=sink)


COURIER_PROVIDERS: Mapping[str, ProviderFactory] = {"simulated": _simulated}


def courier_provider(
    settings: Settings, *, uow: Callable[[], UnitOfWork], clock: Clock, sink: UpdateSink
) -> CourierProvider:
    """The network `settings.courier_provider` names, its updates handed to `sink`."""
    factory = COURIER_PROVIDERS.get(settings.courier_provider)
    if factory is None:
        known = ", ".join(sorted(COURIER_PROVIDERS))
        raise ValueError(f"unknown courier provider {settings.courier_provider!r}: use {known}")
    return factory(settings, uow, clock, sink)
