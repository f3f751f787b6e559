"""Merchants, their terms, and the API keys that identify them."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from sidewalk.deliveries import repository
from sidewalk.deliveries.attempt_policy import MAX_ATTEMPTS_ALLOWED, AttemptPolicy
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import MerchantPrincipal, MerchantTerms
from sidewalk.deliveries.models import ApiKey, Merchant
from sidewalk.kernel.errors import NotFound, Unauthorized, ValidationFailed
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.money import Money
from sidewalk.kernel.secrets import digest, new_secret

API_KEY_PREFIX = "sk_live_"


@dataclass(frozen=True)
class CreatedMerchant:
    merchant: Merchant
    api_key: str


def terms_of(merchant: Merchant) -> MerchantTerms:
    return MerchantTerms(
        currency=merchant.currency,
        base_fee_cents=merchant.base_fee_cents,
        fee_per_km_cents=merchant.fee_per_km_cents,
        courier_base_fee_cents=merchant.courier_base_fee_cents,
        courier_fee_per_km_cents=merchant.courier_fee_per_km_cents,
        max_robot_distance_m=merchant.max_robot_distance_m,
        courier_fallback=merchant.courier_fallback,
        quote_lifetime_s=merchant.quote_lifetime_s,
    )


def policy_of(merchant: Merchant) -> AttemptPolicy:
    return AttemptPolicy(merchant.max_attempts, merchant.courier_fallback)


def create_merchant(
    ctx: DeliveriesContext,
    name: str,
    *,
    partner_id: str | None = None,
    currency: str | None = None,
    base_fee_cents: int | None = None,
    fee_per_km_cents: int | None = None,
    max_robot_distance_m: int | None = None,
    courier_fallback: bool | None = None,
    quote_lifetime_s: int | None = None,
    max_attempts: int | None = None,
) -> CreatedMerchant:
    """A merchant with the deployment's default terms unless told otherwise, and its first
    API key, which is returned here once and never again."""
    s = ctx.settings
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed(
            "A merchant needs a name of 1 to 200 characters", code="validation_error"
        )
    currency = (currency or s.default_currency).upper()
    try:
        Money(0, currency)
    except ValueError as e:
        raise ValidationFailed(str(e)) from e
    numbers = {
        "base_fee_cents": s.default_base_fee_cents if base_fee_cents is None else base_fee_cents,
        "fee_per_km_cents": s.default_fee_per_km_cents
        if fee_per_km_cents is None
        else fee_per_km_cents,
        "max_robot_distance_m": max_robot_distance_m or s.default_max_robot_distance_m,
        "quote_lifetime_s": quote_lifetime_s or s.quote_lifetime_s,
    }
    if any(v < 0 for v in numbers.values()):
        raise ValidationFailed("Fees, distances and lifetimes cannot be negative")
    attempts = s.default_max_attempts if max_attempts is None else max_attempts
    if not 1 <= attempts <= MAX_ATTEMPTS_ALLOWED:
        raise ValidationFailed(
            f"A delivery may have 1 to {MAX_ATTEMPTS_ALLOWED} attempts", code="validation_error"
        )
    with ctx.uow() as uow:
        now = ctx.clock.now()
        merchant = Merchant(
            id=new_id("mer"),
            name=name,
            partner_id=partner_id,
            currency=currency,
            courier_base_fee_cents=s.default_courier_base_fee_cents,
            courier_fee_per_km_cents=s.default_courier_fee_per_km_cents,
            courier_fallback=s.default_courier_fallback
            if courier_fallback is None
            else courier_fallback,
            max_attempts=attempts,
            created_at=now,
            updated_at=now,
            **numbers,
        )
        uow.session.add(merchant)
        uow.session.flush()
        key = _add_api_key(uow.session, merchant.id, now)
        uow.commit()
        uow.session.expunge(merchant)
    return CreatedMerchant(merchant, key)


def _add_api_key(session: Session, merchant_id: str, now: datetime) -> str:
    key = new_secret(API_KEY_PREFIX)
    session.add(
        ApiKey(
            id=new_id("key"),
            merchant_id=merchant_id,
            key_hash=digest(key),
            prefix=key[: len(API_KEY_PREFIX) + 4],
            created_at=now,
        )
    )
    return key


def issue_api_key(ctx: DeliveriesContext, merchant_id: str) -> str:
    """Another API key for a merchant (keys are shown once, so a lost one is replaced)."""
    with ctx.uow() as uow:
        if uow.session.get(Merchant, merchant_id) is None:
            raise NotFound(f"No merchant with id {merchant_id!r}", code="merchant_not_found")
        key = _add_api_key(uow.session, merchant_id, ctx.clock.now())
        uow.commit()
        return key


def merchant_named(ctx: DeliveriesContext, name: str) -> Merchant | None:
    with ctx.uow() as uow:
        found = repository.merchant_named(uow.session, name)
        uow.session.expunge_all()
        return found


def list_merchants(ctx: DeliveriesContext) -> list[Merchant]:
    with ctx.uow() as uow:
        found = repository.merchants(uow.session)
        uow.session.expunge_all()
        return found


def _key_digest(authorization: str | None) -> str:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized(
            "Send your API key as `Authorization: Bearer <key>`", code="missing_api_key"
        )
    return digest(key.strip())


def remembered(ctx: DeliveriesContext, authorization: str | None) -> MerchantPrincipal | None:
    """The merchant of this key if it was seen lately, without asking the database."""
    return ctx.principals.get(_key_digest(authorization))


def authenticate(ctx: DeliveriesContext, authorization: str | None) -> MerchantPrincipal:
    """The merchant whose API key is in the `Authorization: Bearer` header. Answers are cached
    for `api_key_cache_s` seconds, so a revoked key may work that much longer."""
    key_digest = _key_digest(authorization)
    principal = ctx.principals.get_or_load(key_digest, lambda: _principal(ctx, key_digest))
    if principal is None:
        raise Unauthorized("The API key is not valid", code="invalid_api_key")
    return principal


def _principal(ctx: DeliveriesContext, key_digest: str) -> MerchantPrincipal | None:
    with ctx.uow() as uow:
        merchant = repository.merchant_by_key_digest(uow.session, key_digest)
        if merchant is None:
            return None
        return MerchantPrincipal(merchant.id, merchant.partner_id, terms_of(merchant))
