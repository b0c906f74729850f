"""Fault injection (DESIGN.md D17): what goes wrong on AWS now and then, made to happen here on purpose.

Off unless asked for (`pipeline up --faults crash=0.1,throttle=0.05,aws-errors=0.05,duplicate=0.1,seed=7`):

- `crash`: the worker running an invocation is killed (SIGKILL) at a random point after its handler started
  and before its result is read: the invocation fails with `Runtime.ExitError`, as when a Lambda runtime
  process dies, and its side effects so far stay done.
- `throttle`: an invocation is refused as Lambda throttles (`TooManyRequestsException`, HTTP 429): a
  synchronous caller gets the error, asynchronous invocations and SQS pollers retry as they do on AWS.
- `aws-errors`: an AWS API request made by a function (its User-Agent carries `exec-env/AWS_Lambda_`) is
  answered with the service's own 5xx or throttling error before it reaches the service, so the function's
  SDK retries it as on AWS. Requests from anyone else (the CLI, tests) are never touched.
- `duplicate`: a message a standard SQS queue delivers is delivered again later (a second copy with the same
  MessageId and body stays in the queue after the first is deleted, as when a copy on an SQS server that was
  unavailable comes back), and an SNS delivery to a subscription goes out twice. FIFO queues deliver exactly
  once on AWS: they are left alone.

Each kind draws from its own `random.Random`, seeded from `seed` and the kind's name, so a given sequence of
decisions repeats from run to run. Every fault injected is counted (`Faults.counts()`) and logged at INFO.
The moto seams (server, SQS, SNS) are process-wide, so they consult the faults `install`ed for the process;
the Lambda runtime has its own `faults` attribute.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
from collections.abc import Mapping
from typing import Any

from embedded_aws.errors import EmbeddedAwsError, ThrottledError

log = logging.getLogger(__name__)

#: The kinds of fault, as `--faults` names them.
KINDS = ("crash", "throttle", "aws-errors", "duplicate")
#: A crash lands this far (at most) into an invocation: a handler still running then dies mid-way, a
#: quicker one dies after its work is done but before its result is read.
CRASH_WINDOW_S = 0.25
#: What marks a request made by a function: botocore's User-Agent carries `exec-env/$AWS_EXECUTION_ENV`.
FUNCTION_USER_AGENT = "exec-env/AWS_Lambda_"
_EXAMPLE = "crash=0.1,throttle=0.05,aws-errors=0.05,duplicate=0.1,seed=7"
#: Each service's own words for a failure on its side and for throttling: (HTTP status, code, message), by
#: signing name. The SDKs retry every one of them (botocore: 5xx, and these throttling codes).
SERVICE_ERRORS: dict[str, tuple[tuple[int, str, str], ...]] = {
    "s3": (
        (500, "InternalError", "We encountered an internal error. Please try again."),
        (503, "SlowDown", "Please reduce your request rate."),
        (503, "ServiceUnavailable", "Please reduce your request rate."),
    ),
    "dynamodb": (
        (500, "InternalServerError", "Internal server error"),
        (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
        (
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing "
            "your provisioning level with the UpdateTable API.",
        ),
    ),
    "lambda": (
        (500, "ServiceException", "The AWS Lambda service encountered an internal error."),
        (429, "TooManyRequestsException", "Rate Exceeded."),
    ),
    "sns": (
        (500, "InternalError", "Internal Error"),
        (429, "Throttled", "Rate exceeded"),
    ),
    "sqs": (
        (500, "InternalFailure", "The request processing has failed because of an unknown error."),
        (503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
        (400, "RequestThrottled", "Rate exceeded"),
    ),
    "events": (
        (500, "InternalException", "An internal error occurred."),
        (400, "ThrottlingException", "Rate exceeded"),
    ),
}
#: AWS's common errors, for every other service.
COMMON_ERRORS = (
    (
        500,
        "InternalFailure",
        "The request processing has failed because of an unknown error, exception or failure.",
    ),
    (503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
    (400, "ThrottlingException", "Rate exceeded"),
)
_COPY = "_embedded_fault_copy"


class FaultsError(EmbeddedAwsError):
    """A `--faults` setting that cannot be read."""

    reason = "invalid_faults"


class Faults:
    """Which faults to inject and how often, with seeded decisions and counts; thread-safe."""

    def __init__(self, probabilities: Mapping[str, float] | None = None, *, seed: int = 0) -> None:
        """`probabilities`: kind (one of `KINDS`) → the chance, from 0 to 1, that it hits each time it may."""
        self.probabilities = {kind: 0.0 for kind in KINDS}
        for kind, value in (probabilities or {}).items():
            if kind not in KINDS:
                raise FaultsError(
                    f"{kind!r} is not a kind of fault. Write KIND=PROBABILITY pairs with KIND one of "
                    f"{', '.join(KINDS)} (and optionally seed=N), e.g. {_EXAMPLE}."
                )
            if not 0.0 <= value <= 1.0:
                raise FaultsError(
                    f"{kind}={value} is not a probability. Write a number from 0 to 1, e.g. {kind}=0.1."
                )
            self.probabilities[kind] = float(value)
        self.seed = seed
        self._lock = threading.Lock()
        self._random = {kind: random.Random(f"{seed}:{kind}") for kind in KINDS}
        self._counts = dict.fromkeys(KINDS, 0)

    @classmethod
    def parse(cls, text: str) -> Faults:
        """Read `crash=0.1,throttle=0.05,aws-errors=0.05,duplicate=0.1,seed=7` (kinds not named are off)."""
        probabilities: dict[str, float] = {}
        seed = 0
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            name, sep, value = (s.strip() for s in part.partition("="))
            if not sep or not name or not value:
                raise FaultsError(f"{part!r} is not KIND=PROBABILITY. Write, e.g., {_EXAMPLE}.")
            if name == "seed":
                try:
                    seed = int(value)
                except ValueError as exc:
                    raise FaultsError(f"seed={value} is not a whole number. Write, e.g., seed=7.") from exc
                continue
            if name in probabilities:
                raise FaultsError(f"{name} is set twice in {text!r}. Write each kind once.")
            try:
                probabilities[name] = float(value)
            except ValueError as exc:
                raise FaultsError(
                    f"{name}={value} is not a probability. Write a number from 0 to 1, e.g. {name}=0.1."
                ) from exc
        return cls(probabilities, seed=seed)

    @property
    def enabled(self) -> bool:
        """Whether any kind may hit."""
        return any(self.probabilities.values())

    def describe(self) -> str:
        """One line for a person: `crash 10%, throttle 5%, seed 7`, or `off`."""
        on = [f"{kind} {p * 100:g}%" for kind, p in self.on()]
        return ", ".join([*on, f"seed {self.seed}"]) if on else "off"

    def on(self) -> list[tuple[str, float]]:
        """(kind, probability) of every kind that may hit, in `KINDS` order."""
        return [(kind, p) for kind, p in self.probabilities.items() if p > 0]

    def counts(self) -> dict[str, int]:
        """Faults injected so far, by kind."""
        with self._lock:
            return dict(self._counts)

    # --- decisions --------------------------------------------------------------------------------------
    def _draw(self, kind: str) -> float | None:
        """A uniform number from `kind`'s generator when the fault hits this time, else None. A kind that
        is off draws nothing, so turning one kind on or off changes no other kind's decisions."""
        p = self.probabilities[kind]
        if p <= 0.0:
            return None
        with self._lock:
            rng = self._random[kind]
            if rng.random() >= p:
                return None
            return rng.random()

    def record(self, kind: str, target: str, detail: str = "") -> None:
        """Count one injected fault and log it."""
        with self._lock:
            self._counts[kind] += 1
        log.info("Fault injected: %s on %s%s", kind, target, f" ({detail})" if detail else "")

    def crash_after(self, target: str) -> float | None:
        """Seconds into an invocation of `target` to kill its worker at, or None to let it be."""
        draw = self._draw("crash")
        return None if draw is None else round(draw * CRASH_WINDOW_S, 4)

    def check_throttle(self, target: str) -> None:
        """Raise `ThrottledError` when this invocation of `target` is throttled."""
        if self._draw("throttle") is not None:
            self.record("throttle", target)
            raise ThrottledError(f"Fault injection throttled this invocation of {target}.")

    def aws_error(self, signing_name: str, user_agent: str) -> tuple[int, str, str] | None:
        """(status, code, message) to answer a request with, when it comes from a function and is hit (the
        caller `record`s it, naming the request)."""
        if FUNCTION_USER_AGENT not in user_agent:
            return None
        draw = self._draw("aws-errors")
        if draw is None:
            return None
        choices = SERVICE_ERRORS.get(signing_name, COMMON_ERRORS)
        return choices[min(int(draw * len(choices)), len(choices) - 1)]

    def duplicate(self, target: str) -> bool:
        """Whether to deliver this message to `target` twice (counted when it is)."""
        if self._draw("duplicate") is None:
            return False
        self.record("duplicate", target)
        return True

    def duplicate_sqs(self, queue: Any, received: list[Any]) -> None:
        """Leave a second copy in `queue` of messages just received for the first time (standard queues).

        The copy keeps the MessageId, body and attributes; it is received again once the first is deleted
        or even while it is being handled, and is never copied itself.
        """
        if queue.fifo_queue or self.probabilities["duplicate"] <= 0.0:
            return
        for message in received:
            if message.approximate_receive_count != 1 or getattr(message, _COPY, False):
                continue
            if not self.duplicate(f"sqs:{queue.name} message {message.id}"):
                continue
            twin = copy.copy(message)
            twin.receipt_handle = None
            twin._old_receipt_handles = []
            twin.approximate_receive_count = 0
            twin.approximate_first_receive_timestamp = None
            twin.visible_at = 0.0
            twin.delayed_until = 0.0
            setattr(twin, _COPY, True)
            queue.add_message(twin)


_current: Faults | None = None


def install(faults: Faults | None) -> None:
    """The faults the process-wide seams (server, SQS, SNS) inject from now on; None turns them off."""
    global _current  # noqa: PLW0603 - moto's models and server are process-wide, so are their faults
    _current = faults if faults is not None and faults.enabled else None


def current() -> Faults | None:
    """The installed faults, if any kind is on."""
    return _current
