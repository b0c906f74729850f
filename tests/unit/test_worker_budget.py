"""The stack's worker budget: a fair queue across functions, FIFO within one, caps per function."""

from __future__ import annotations

import threading

import pytest

from embedded_aws.budget import WorkerBudget, default_limit
from embedded_aws.stack import poll_until


def _waiter(budget: WorkerBudget, key: str, label: str, order: list[str], cap: int = 10) -> threading.Thread:
    """A thread that waits for a slot, notes its label once granted, and gives the slot back at once."""

    def run() -> None:
        with budget.slot(key, cap):
            order.append(label)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _queue(budget: WorkerBudget, waiters: list[tuple[str, str]], order: list[str]) -> list[threading.Thread]:
    """Start waiters one by one, each only once the one before it is queued (so arrival order is known)."""
    threads = []
    for key, label in waiters:
        queued = budget.waiting()
        threads.append(_waiter(budget, key, label, order))
        assert poll_until(lambda q=queued: budget.waiting() == q + 1, timeout_s=10)  # type: ignore[misc]
    return threads


def test_waiters_are_served_round_robin_across_functions_and_in_order_within_one() -> None:
    # Given a budget of one slot, held, and a flood of function A queued before one call of function B
    budget = WorkerBudget(1)
    budget.acquire("held", 10)
    order: list[str] = []
    threads = _queue(budget, [("A", "a1"), ("A", "a2"), ("A", "a3"), ("B", "b1"), ("A", "a4")], order)

    # When the slot is released
    budget.release("held")
    for thread in threads:
        thread.join(10)

    # Then B's call runs second, not after the whole flood of A; A's calls keep their order
    assert order == ["a1", "b1", "a2", "a3", "a4"]
    assert (budget.running, budget.waiting()) == (0, 0)


def test_a_nested_invocation_does_not_wait_for_the_budget() -> None:
    # Given a budget of one slot held by a handler that invokes another function synchronously
    budget = WorkerBudget(1)
    budget.acquire("caller", 10)

    # When the callee's invocation asks for a slot as a nested invocation
    granted = threading.Event()

    def callee() -> None:
        with budget.slot("callee", 10, nested=True):
            granted.set()

    threading.Thread(target=callee, daemon=True).start()

    # Then it runs at once (over the budget), rather than waiting for its own caller forever
    assert granted.wait(10)
    budget.release("caller")
    assert poll_until(lambda: budget.running == 0, timeout_s=10)


def test_a_functions_own_cap_holds_while_others_use_the_free_slots() -> None:
    # Given a budget of three and function A capped at one invocation, which is running
    budget = WorkerBudget(3)
    budget.acquire("A", 1)
    order: list[str] = []

    # When another A and a B ask for slots
    a2 = _waiter(budget, "A", "a2", order, cap=1)
    assert poll_until(lambda: budget.waiting("A") == 1, timeout_s=10)
    b1 = _waiter(budget, "B", "b1", order)
    b1.join(10)

    # Then B runs while the second A waits for the first to end, and then runs too
    assert order == ["b1"]
    assert budget.waiting("A") == 1
    budget.release("A")
    a2.join(10)
    assert order == ["b1", "a2"]


def test_the_default_budget_is_the_cpu_count_plus_one_and_zero_is_refused() -> None:
    # Given no limit, Then the budget is the CPU count + 1; and a budget of no workers is a clear error
    assert WorkerBudget().limit == default_limit() >= 2
    with pytest.raises(ValueError, match="at least one worker"):
        WorkerBudget(0)


def test_a_poller_waits_for_room_without_holding_a_slot_and_wakes_when_one_is_released() -> None:
    # Given a budget of one slot, held by function A, and function B capped at one
    budget = WorkerBudget(1)
    budget.acquire("A", 10)

    # When a poller of B asks for room while the slot is held, Then it is told there is none, holding nothing
    assert budget.wait_until_free("B", 1, timeout_s=0.05) is False
    assert budget.running == 1 and budget.waiting() == 0

    # When A's slot is released while the poller waits, Then the poller is woken and told there is room
    answers: list[bool] = []
    poller = threading.Thread(target=lambda: answers.append(budget.wait_until_free("B", 1, timeout_s=30)))
    poller.start()
    budget.release("A")
    poller.join(30)
    assert answers == [True]
    assert budget.running == 0

    # ...and a function at its own cap has no room even when the budget has
    wide = WorkerBudget(4)
    wide.acquire("B", 1)
    assert wide.wait_until_free("B", 1, timeout_s=0.05) is False
    assert wide.wait_until_free("C", 1, timeout_s=0.05) is True


def test_a_nested_call_runs_at_once_even_when_its_function_has_callers_queued() -> None:
    # Given a budget of one slot held by a handler, and a call of function B queued behind it
    budget = WorkerBudget(1)
    budget.acquire("caller", 10)
    order: list[str] = []
    queued = _queue(budget, [("B", "queued")], order)

    # When the handler invokes B synchronously (a nested call, its caller holding the slot)
    nested = threading.Thread(target=lambda: budget.acquire("B", 10, nested=True), daemon=True)
    nested.start()

    # Then the nested call is granted at once, without waiting for a release, and the queued call still waits
    assert poll_until(lambda: budget.running == 2, timeout_s=10)
    nested.join(10)
    assert not nested.is_alive() and order == [] and budget.waiting("B") == 1
    budget.release("B")
    budget.release("caller")
    for thread in queued:
        thread.join(10)
    assert order == ["queued"]
