"""Operators (pilots, supervisors, admins) and their tokens, shown once and kept as a digest."""

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sidewalk.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.secrets import digest, new_secret
from sidewalk.kernel.statemachine import check
from sidewalk.operations import pilots
from sidewalk.operations.access import OPERATOR_TOKEN_PREFIX
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import (
    OPERATOR_TRANSITIONS,
    OperatorPrincipal,
    OperatorRole,
    OperatorStatus,
    sees_everything,
)
from sidewalk.operations.models import Operator

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class CreatedOperator:
    operator: Operator
    token: str


def create_operator(
    ctx: OperationsContext,
    email: str,
    role: OperatorRole,
    *,
    display_name: str | None = None,
) -> CreatedOperator:
    """A new operator, offline until they say otherwise; the token is returned here once."""
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise ValidationFailed(f"{email!r} is not an email address", code="validation_error")
    token = new_secret(OPERATOR_TOKEN_PREFIX)
    try:
        with ctx.uow() as uow:
            now = uow.clock.now()
            operator = Operator(
                id=new_id("opr"),
                email=email,
                display_name=(display_name or "").strip() or None,
                role=role,
                status=OperatorStatus.OFFLINE,
                token_digest=digest(token),
                created_at=now,
                updated_at=now,
            )
            uow.session.add(operator)
            uow.commit()
            return CreatedOperator(operator, token)
    except IntegrityError as e:
        raise Conflict(f"An operator {email!r} exists already", code="operator_exists") from e


def operator_not_found(operator_id: str) -> NotFound:
    return NotFound(f"No operator {operator_id!r}", code="operator_not_found")


def set_status(
    ctx: OperationsContext, caller: OperatorPrincipal, operator_id: str, status: OperatorStatus
) -> Operator:
    """An admin sets anyone's status, others only their own. A pilot who goes offline or on a
    break hands their robots to other pilots; one who becomes available takes waiting ones."""
    if operator_id != caller.id and caller.role is not OperatorRole.ADMIN:
        raise Forbidden("Only admins set another operator's status", code="forbidden")
    with ctx.uow() as uow:
        operator = uow.session.scalars(
            select(Operator).where(Operator.id == operator_id).with_for_update(key_share=True)
        ).one_or_none()
        if operator is None:
            raise operator_not_found(operator_id)
        before = OperatorStatus(operator.status)
        if before is not status:
            check("operator", OPERATOR_TRANSITIONS, before, status)
        operator.status = status
        operator.updated_at = uow.clock.now()
        uow.session.flush()
        if operator.role == OperatorRole.PILOT and before is not status:
            if status is OperatorStatus.AVAILABLE:
                pilots.staff_waiting_tasks(uow)
            elif before is OperatorStatus.AVAILABLE:
                pilots.hand_over(uow, operator.id)
        uow.record("operator.status_changed", data={"operator_id": operator.id, "to": status})
        uow.commit()
        return operator


def list_operators(ctx: OperationsContext, *, role: OperatorRole | None = None) -> list[Operator]:
    with ctx.uow() as uow:
        query = select(Operator).order_by(Operator.email)
        if role is not None:
            query = query.where(Operator.role == role)
        return list(uow.session.scalars(query))


def get_operator(ctx: OperationsContext, caller: OperatorPrincipal, operator_id: str) -> Operator:
    if operator_id != caller.id and not sees_everything(caller.role):
        raise Forbidden("A pilot sees only themselves", code="forbidden")
    with ctx.uow() as uow:
        operator = uow.session.get(Operator, operator_id)
        if operator is None:
            raise operator_not_found(operator_id)
        return operator


def operator_by_email(ctx: OperationsContext, email: str) -> Operator | None:
    with ctx.uow() as uow:
        return uow.session.scalars(
            select(Operator).where(Operator.email == email.strip().lower())
        ).one_or_none()


def issue_token(ctx: OperationsContext, operator_id: str) -> str:
    """A new token for the operator, returned once; the old one stops working (at once in
    this process, within `api_key_cache_s` in others)."""
    token = new_secret(OPERATOR_TOKEN_PREFIX)
    with ctx.uow() as uow:
        operator = uow.session.get(Operator, operator_id, with_for_update={"key_share": True})
        if operator is None:
            raise operator_not_found(operator_id)
        old = operator.token_digest
        operator.token_digest = digest(token)
        operator.updated_at = uow.clock.now()
        uow.commit()
    ctx.principals.forget(old)
    return token
