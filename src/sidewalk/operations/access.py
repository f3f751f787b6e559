"""Who calls the ops API and what they may do: operators by role, robots only for themselves.
Tokens are told apart by their prefix and looked up by digest; answers are cached for
`api_key_cache_s` seconds, so a changed role or a revoked token may act that much longer. The
ops service holds every valid token, refreshed in the background (`every_principal`): a robot
is not looked up on its requests' path."""

from collections.abc import Callable

from sqlalchemy import select

from sidewalk.kernel.errors import Forbidden, Unauthorized
from sidewalk.kernel.secrets import digest
from sidewalk.kernel.uow import ReadUnitOfWork
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import (
    Action,
    OperatorPrincipal,
    OperatorRole,
    Principal,
    RobotPrincipal,
    may,
)
from sidewalk.operations.models import Operator, Robot

OPERATOR_TOKEN_PREFIX = "opt_"
ROBOT_TOKEN_PREFIX = "rbt_"


def _token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Send your token as `Authorization: Bearer <token>`", code="missing_token"
        )
    return token.strip()


def authenticate(ctx: OperationsContext, authorization: str | None) -> Principal:
    token = _token(authorization)
    key = digest(token)
    principal = ctx.principals.get_or_load(key, lambda: _principal(ctx, token, key))
    if principal is None:
        raise Unauthorized("The token is not valid", code="invalid_token")
    return principal


def remembered(ctx: OperationsContext, authorization: str | None) -> Principal | None:
    return ctx.principals.get(digest(_token(authorization)))


def every_principal(read: Callable[[], ReadUnitOfWork]) -> dict[str, Principal]:
    """Who each valid token belongs to, by digest: what the cache of tokens holds, refreshed
    in the background, so that no robot of the fleet is looked up on its requests' path."""
    with read() as uow:
        robots = uow.session.execute(select(Robot.token_digest, Robot.serial))
        found: dict[str, Principal] = {key: RobotPrincipal(serial) for key, serial in robots}
        operators = uow.session.execute(select(Operator.token_digest, Operator.id, Operator.role))
        for key, operator_id, role in operators:
            found[key] = OperatorPrincipal(operator_id, OperatorRole(role))
    return found


def _principal(ctx: OperationsContext, token: str, key: str) -> Principal | None:
    with ctx.read() as uow:
        if token.startswith(ROBOT_TOKEN_PREFIX):
            serial = uow.session.scalar(select(Robot.serial).where(Robot.token_digest == key))
            return RobotPrincipal(serial) if serial is not None else None
        if token.startswith(OPERATOR_TOKEN_PREFIX):
            row = uow.session.execute(
                select(Operator.id, Operator.role).where(Operator.token_digest == key)
            ).one_or_none()
            return OperatorPrincipal(row.id, OperatorRole(row.role)) if row else None
    return None


def require(principal: Principal, action: Action) -> OperatorPrincipal:
    """The operator, if their role allows `action`; robots act only through their own routes."""
    if not isinstance(principal, OperatorPrincipal):
        raise Forbidden("A robot token may only report for its own robot", code="forbidden")
    if not may(principal.role, action):
        raise Forbidden(
            f"The {principal.role.value} role may not do {action.value}", code="forbidden"
        )
    return principal


def require_robot_or(principal: Principal, serial: str, action: Action) -> None:
    """The robot itself, or an operator allowed `action`."""
    if isinstance(principal, RobotPrincipal):
        if principal.serial != serial:
            raise Forbidden("A robot may only act for itself", code="forbidden")
        return
    require(principal, action)


def require_robot(principal: Principal, serial: str) -> None:
    if not isinstance(principal, RobotPrincipal) or principal.serial != serial:
        raise Forbidden("Only the robot itself reports its telemetry", code="forbidden")
