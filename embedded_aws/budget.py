"""One budget of running invocations for the whole stack, granted fairly (issue 10).

A machine runs only so many handlers at once before they slow each other down: past that, more processes
only make every invocation slower, until handlers time out because of the emulator rather than their own
code. So at most `limit` invocations run at once across all functions (default: CPU count + 1, which keeps
every core busy while one handler waits on I/O). The rest wait, and a waiting invocation has not started:
its function's `Timeout` counts from when its handler starts.

Waiters are served round-robin across functions (a key per function), first come first served within one,
so a flood of one function does not starve the next step of a workflow. Each function also has a cap of
its own (reserved concurrency, or the local default), enforced here too so one queue orders both.

A *nested* invocation (a handler calling Invoke synchronously on another function) does not wait for the
budget: its caller holds a slot while it waits, and if every slot were held by such callers nothing could
ever run. It still counts as running while it runs, and it still respects its function's own cap.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field


def default_limit() -> int:
    """CPU count + 1: every core busy, and one more for the handler that is waiting on I/O."""
    return (os.cpu_count() or 1) + 1


@dataclass
class _Ticket:
    key: Hashable
    cap: int
    nested: bool = False
    granted: threading.Event = field(default_factory=threading.Event)


class WorkerBudget:
    """At most `limit` slots held at once; waiters granted round-robin across keys, FIFO within a key."""

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"A worker budget needs at least one worker, not {limit}.")
        self._limit = limit or default_limit()
        self._lock = threading.Lock()
        self._running = 0
        self._by_key: collections.Counter[Hashable] = collections.Counter()
        #: Keys with waiters, in the order they get their next turn; each key's waiters in arrival order.
        self._waiting: collections.OrderedDict[Hashable, collections.deque[_Ticket]] = (
            collections.OrderedDict()
        )
        self._freed = threading.Condition(self._lock)  # notified whenever a slot is released

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"A worker budget needs at least one worker, not {value}.")
        with self._lock:
            self._limit = value
            self._dispatch()
            self._freed.notify_all()

    @property
    def running(self) -> int:
        """Slots held now (nested invocations included, so this may exceed the limit)."""
        with self._lock:
            return self._running

    def waiting(self, key: Hashable | None = None) -> int:
        """Invocations waiting for a slot: of one key, or of all."""
        with self._lock:
            if key is not None:
                return len(self._waiting.get(key, ()))
            return sum(len(q) for q in self._waiting.values())

    @contextlib.contextmanager
    def slot(self, key: Hashable, cap: int, *, nested: bool = False) -> Iterator[None]:
        """Hold one slot for `key` (at most `cap` of them at once) while the block runs."""
        self.acquire(key, cap, nested=nested)
        try:
            yield
        finally:
            self.release(key)

    def acquire(self, key: Hashable, cap: int, *, nested: bool = False) -> None:
        """Wait for a slot. A nested invocation waits only for its key's cap, never for the budget."""
        with self._lock:
            ticket = _Ticket(key, cap, nested)
            queue = self._waiting.get(key)
            if nested and self._by_key[key] < cap:  # its caller holds a slot: it must not queue behind others
                self._grant(ticket)
                return
            if queue is None and self._running < self._limit and self._by_key[key] < cap:
                self._grant(ticket)
                return
            if nested:
                # Ahead of its function's other waiters, which wait for the budget it does not need.
                self._waiting.setdefault(key, collections.deque()).appendleft(ticket)
            else:
                self._waiting.setdefault(key, collections.deque()).append(ticket)
        ticket.granted.wait()

    def release(self, key: Hashable) -> None:
        with self._lock:
            self._running -= 1
            self._by_key[key] -= 1
            if self._by_key[key] <= 0:
                del self._by_key[key]
            self._dispatch()
            self._freed.notify_all()

    def wait_until_free(self, key: Hashable, cap: int, timeout_s: float) -> bool:
        """Wait, holding nothing, until `key` could take a slot at once: the budget and `key`'s cap both have
        room (a waiter still queued after a release is held back by a full budget or by its own cap).

        What a poller asks before it receives work, as Lambda's pollers fetch only what the function can run:
        a batch left waiting for a slot would spend its messages' visibility timeout in this queue."""

        def free() -> bool:
            return self._running < self._limit and self._by_key[key] < cap

        with self._freed:
            return self._freed.wait_for(free, timeout_s)

    def _grant(self, ticket: _Ticket) -> None:
        self._running += 1
        self._by_key[ticket.key] += 1
        ticket.granted.set()

    def _dispatch(self) -> None:
        """Grant free slots to waiters: the next key in turn whose cap allows, its oldest waiter first."""
        progress = True
        while progress and self._waiting:
            progress = False
            for key in list(self._waiting):
                queue = self._waiting[key]
                head = queue[0]
                if self._by_key[key] >= head.cap or not (head.nested or self._running < self._limit):
                    continue
                queue.popleft()
                self._grant(head)
                progress = True
                if queue:
                    self._waiting.move_to_end(key)  # its next waiter goes after every other key's
                else:
                    del self._waiting[key]
                break
