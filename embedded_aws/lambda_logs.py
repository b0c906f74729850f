"""Function logs in CloudWatch Logs, as Lambda sends them: group `/aws/lambda/<name>` (or LoggingConfig's
LogGroup), one stream per execution environment (`YYYY/MM/DD/[$LATEST]<id>`), one event per line.

The embedded AWS writes straight into moto's Logs backend in this process (no HTTP round trip per line), so
`aws logs filter-log-events` / `tail` and boto3's `filter_log_events` read what the functions wrote.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

#: (timestamp in epoch milliseconds, message) for each line.
LogLines = list[tuple[int, str]]


class CloudWatchLogs:
    """A log sink for the local runtime: creates the group and stream on first use, then puts events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # moto's log streams are not thread-safe for concurrent writers

    def __call__(self, function_arn: str, group: str, stream: str, lines: LogLines) -> None:
        from moto.logs.models import logs_backends

        _, _, _, region, account, *_ = function_arn.split(":")
        try:
            backend = logs_backends[account][region]
            with self._lock:
                if group not in backend.groups:
                    backend.create_log_group(group, {})
                if stream not in backend.groups[group].streams:
                    backend.create_log_stream(group, stream)
                backend.put_log_events(group, stream, [{"timestamp": t, "message": m} for t, m in lines])
        except Exception:  # a log sink must never fail an invocation (the file still has the lines)
            log.warning("Could not put %d log lines to %s %s", len(lines), group, stream, exc_info=True)
