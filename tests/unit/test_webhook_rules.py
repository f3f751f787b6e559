"""The pure rules of webhooks: which event types exist, which URLs are accepted, the retry
schedule, and signatures that the independent Standard Webhooks library accepts."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from sidewalk.deliveries.domain import DeliveryStatus
from sidewalk.deliveries.webhook_domain import (
    LOCATION_EVENT,
    WEBHOOK_EVENT_TYPES,
    MessageStatus,
    check_endpoint_url,
    check_message_move,
    retry_at,
)
from sidewalk.deliveries.webhook_signing import new_signing_secret, sign, signed_headers
from sidewalk.kernel.errors import InvalidTransition

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0]
DAY_S = 86_400.0


def test_every_delivery_status_is_an_event_type_and_so_is_its_creation() -> None:
    statuses = {f"delivery.{s.value}" for s in DeliveryStatus} | {"delivery.created"}
    assert statuses | {LOCATION_EVENT} == WEBHOOK_EVENT_TYPES


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hooks",
        "http://127.0.0.1:8080/hooks?shop=1",
        "HTTPS://EXAMPLE.COM",
        "https://[2001:db8::1]:8443/h",
        "https://bücher.example/hooks",
    ],
)
def test_absolute_http_urls_are_accepted(url: str) -> None:
    assert check_endpoint_url(url) == url


@pytest.mark.parametrize(
    ("url", "because"),
    [
        ("ftp://example.com/h", "http"),
        ("example.com/hooks", "http"),
        ("https://", "host"),
        ("https://:443/h", "host"),
        ("https://user:secret@example.com/h", "credentials"),
        ("https://user@example.com/h", "credentials"),
        ("https://example.com/h#frag", "fragment"),
        ("https://example.com/h#", "fragment"),
        ("https://example.com:70000/h", "valid URL"),
        ("https://example.com:0/h", "port 0"),
        ("https://example.com/a b", "spaces"),
        ("https://example.com/\x00", "control"),
        ("https://example.com/" + "a" * 2048, "2048"),
    ],
)
def test_other_urls_are_refused_saying_why(url: str, because: str) -> None:
    with pytest.raises(ValueError, match=because):
        check_endpoint_url(url)


def waits(jitter: float = 1.0) -> list[float]:
    """The waits between the attempts of a message that always fails, until it is given up."""
    made, now, out = 1, T0, []
    while (
        later := retry_at(
            first_attempt_at=T0,
            now=now,
            attempts_made=made,
            schedule_s=SCHEDULE,
            give_up_after_s=DAY_S,
            jitter=jitter,
        )
    ) is not None:
        out.append((later - now).total_seconds())
        now, made = later, made + 1
    return out


def test_the_retries_follow_the_schedule_and_a_last_one_comes_at_the_days_end() -> None:
    assert waits() == [*SCHEDULE, DAY_S - sum(SCHEDULE)]


def test_jitter_stretches_each_wait_but_not_the_day() -> None:
    assert waits(1.1)[:6] == pytest.approx([w * 1.1 for w in SCHEDULE])
    assert sum(waits(1.1)) == pytest.approx(DAY_S)
    assert sum(waits(0.9)) == pytest.approx(DAY_S)


def test_the_last_wait_repeats_when_the_schedule_is_short() -> None:
    short = retry_at(
        first_attempt_at=T0,
        now=T0 + timedelta(minutes=10),
        attempts_made=9,
        schedule_s=[60.0],
        give_up_after_s=DAY_S,
        jitter=1.0,
    )
    assert short == T0 + timedelta(minutes=11)


def test_a_message_is_given_up_once_the_day_is_over() -> None:
    assert (
        retry_at(
            first_attempt_at=T0,
            now=T0 + timedelta(days=1),
            attempts_made=8,
            schedule_s=SCHEDULE,
            give_up_after_s=DAY_S,
            jitter=1.0,
        )
        is None
    )


def test_a_settled_message_never_moves_again() -> None:
    check_message_move("pending", MessageStatus.SUCCEEDED)
    with pytest.raises(InvalidTransition):
        check_message_move("succeeded", MessageStatus.FAILED)
    with pytest.raises(InvalidTransition):
        check_message_move("failed", MessageStatus.PENDING)


def test_a_secret_is_whsec_and_the_base64_of_enough_random_bytes() -> None:
    secret = new_signing_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24
    assert new_signing_secret() != secret


def test_the_standard_webhooks_library_verifies_our_signature() -> None:
    secret = new_signing_secret()
    body = '{"type":"delivery.delivered","data":{"id":"dlv_1","note":"café"}}'.encode()
    now = int(datetime.now(UTC).timestamp())  # the library checks against the wall clock
    headers = signed_headers(secret, "msg_1", now, body)

    assert Webhook(secret).verify(body, headers) == {
        "type": "delivery.delivered",
        "data": {"id": "dlv_1", "note": "café"},
    }
    assert headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_signing_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"dlv_1", b"dlv_2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_2"})


def test_a_signature_matches_the_specifications_example() -> None:
    """The example of the Standard Webhooks specification, signed by our own code."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'

    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
