"""The courier networks the platform knows, by the name the `courier_provider` setting gives.
An adapter of a real network adds its factory here."""

from collections.abc import Callable, Mapping

from pydantic import SecretStr

from sidewalk.deliveries.providers.courier import CourierProvider, UpdateSink
from sidewalk.deliveries.providers.doordash import DoorDashDrive
from sidewalk.deliveries.providers.simulated_courier import SimulatedCourierNetwork
from sidewalk.deliveries.providers.uber import UberDirect
from sidewalk.kernel.clock import Clock
from sidewalk.kernel.settings import Settings
from sidewalk.kernel.uow import UnitOfWork

ProviderFactory = Callable[[Settings, Callable[[], UnitOfWork], Clock, UpdateSink], CourierProvider]


def _simulated(
    settings: Settings, uow: Callable[[], UnitOfWork], clock: Clock, sink: UpdateSink
) -> CourierProvider:
    return SimulatedCourierNetwork.from_settings(settings, uow=uow, clock=clock, sink=sink)


def _needed(settings: Settings, *names: str) -> list[str]:
    """The settings a real network needs, refused at start-up when one is missing."""
    missing = [n for n in names if getattr(settings, n) is None]
    if missing:
        listed = ", ".join(f"SIDEWALK_{n.upper()}" for n in missing)
        raise ValueError(f"courier provider {settings.courier_provider!r} needs {listed}")
    return [_plain(getattr(settings, n)) for n in names]


def _plain(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _doordash(
    settings: Settings, uow: Callable[[], UnitOfWork], clock: Clock, sink: UpdateSink
) -> CourierProvider:
    developer, key, secret, phone, _ = _needed(
        settings,
        "doordash_developer_id",
        "doordash_key_id",
        "doordash_signing_secret",
        "courier_contact_phone",
        "doordash_webhook_authorization",
    )
    return DoorDashDrive(
        base_url=settings.doordash_base_url,
        developer_id=developer,
        key_id=key,
        signing_secret=secret,
        contact_name=settings.courier_contact_name,
        contact_phone=phone,
        clock=clock,
        timeout_s=settings.courier_http_timeout_s,
    )


def _uber(
    settings: Settings, uow: Callable[[], UnitOfWork], clock: Clock, sink: UpdateSink
) -> CourierProvider:
    customer, client, secret, phone, _ = _needed(
        settings,
        "uber_customer_id",
        "uber_client_id",
        "uber_client_secret",
        "courier_contact_phone",
        "uber_webhook_signing_key",
    )
    return UberDirect(
        base_url=settings.uber_base_url,
        token_url=settings.uber_token_url,
        customer_id=customer,
        client_id=client,
        client_secret=secret,
        contact_name=settings.courier_contact_name,
        contact_phone=phone,
        clock=clock,
        timeout_s=settings.courier_http_timeout_s,
    )


# Real networks push their updates to our webhook routes (`api_couriers`), not to `sink`.
COURIER_PROVIDERS: Mapping[str, ProviderFactory] = {
    "simulated": _simulated,
    "doordash": _doordash,
    "uber": _uber,
}


def courier_provider(
    settings: Settings, *, uow: Callable[[], UnitOfWork], clock: Clock, sink: UpdateSink
) -> CourierProvider:
    """The network `settings.courier_provider` names, its updates handed to `sink`."""
    factory = COURIER_PROVIDERS.get(settings.courier_provider)
    if factory is None:
        known = ", ".join(sorted(COURIER_PROVIDERS))
        raise ValueError(f"unknown courier provider {settings.courier_provider!r}: use {known}")
    return factory(settings, uow, clock, sink)
