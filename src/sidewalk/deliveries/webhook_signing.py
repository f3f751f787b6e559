"""Webhook signatures as Standard Webhooks specifies them (https://www.standardwebhooks.com):
any receiver can check them with the specification's libraries, in any language.

The secret is `whsec_` and the base64 of random bytes; the signature is the base64 HMAC-SHA256,
keyed with those bytes, of `{webhook-id}.{webhook-timestamp}.{body}`, sent as `v1,<base64>`."""

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The bytes the HMAC is keyed with: the secret's base64 part, decoded."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as e:
        raise ValueError("a webhook secret is base64 after its prefix") from e


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of one attempt: the id stays the same on every retry, so a receiver can
    drop what it has already handled; the timestamp is the attempt's, so it can refuse old
    replays."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }
