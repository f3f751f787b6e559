"""Every status change goes through its aggregate's one function, which moves it through the
state machine, stamps the time and tells: deliveries and attempts (`deliveries.moves`),
tasks and trips (`operations.moves`), robots (`operations.robot_state.change_state`). Read
from the sources, so that a new module setting a status by hand, and so telling nobody,
fails here."""

import ast
from pathlib import Path

import sidewalk

SRC = Path(sidewalk.__file__).parent

# The state machines' own steps, and the one place each may be called from.
RAILS = {
    "move_delivery": {"deliveries/domain.py", "deliveries/moves.py"},
    "move_attempt": {"deliveries/domain.py", "deliveries/moves.py"},
    # The state machine's own step: the two above, and the tasks' and trips' rail.
    "transition": {"deliveries/domain.py", "operations/moves.py"},
    # The inbox: a handled event is noted through the unit of work (`uow.first_time`) only.
    "first_time": {"kernel/uow.py"},
}
# Where a `status` or `state` is set: the rails, and aggregates that are no one's timeline
# (webhook endpoints and messages, an operator's availability, checked by its table).
SETTERS = {
    "operations/robot_state.py",
    "deliveries/webhooks.py",
    "deliveries/webhook_sender.py",
    "operations/operators.py",
}


def _modules(package: str) -> list[tuple[str, ast.Module]]:
    return [
        (str(path.relative_to(SRC)), ast.parse(path.read_text(), str(path)))
        for path in sorted((SRC / package).rglob("*.py"))
    ]


def _called(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return node.func.id
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
    return None


def _through_the_unit_of_work(node: ast.AST) -> bool:
    """`uow.first_time(...)`: the unit of work's own door to the inbox."""
    func = node.func if isinstance(node, ast.Call) else None
    return isinstance(func, ast.Attribute) and func.attr == "first_time"


def test_only_the_rail_takes_a_delivery_or_an_attempt_through_its_state_machine() -> None:
    bypasses = [
        f"{name}:{node.lineno} calls {called}"
        for name, tree in _modules("")
        for node in ast.walk(tree)
        if (called := _called(node)) in RAILS
        and name not in RAILS[called]
        and not _through_the_unit_of_work(node)
    ]
    assert bypasses == []


def test_no_module_of_the_services_sets_a_status_or_a_state_by_hand() -> None:
    by_hand = [
        f"{name}:{node.lineno}"
        for package in ("deliveries", "operations")
        for name, tree in _modules(package)
        if name not in SETTERS
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Attribute)
        and target.attr in {"status", "status_times", "state"}
        # A new record stamping its first status is not a change.
        and not (isinstance(target.value, ast.Name) and target.value.id == "self")
    ]
    assert by_hand == []


def test_the_checks_see_a_bypass() -> None:
    """The two checks above find what they look for (they would pass on an empty tree)."""
    tree = ast.parse("move_delivery(d, to, at=now)\nd.status = 'pending'\n")
    assert [_called(n) for n in ast.walk(tree) if _called(n)] == ["move_delivery"]
    assigned = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)]
    assert isinstance(assigned[0].targets[0], ast.Attribute)
    assert len(_modules("deliveries")) > 20
    assert len(_modules("operations")) > 20
