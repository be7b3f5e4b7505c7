"""The circuit breaker kept per served model version.

Count-based sliding window in the manner of resilience4j: the last ``window`` calls are remembered as (failed,
slow). With at least ``min_calls`` in the window, the breaker opens when the failure rate (exceptions and invalid
outputs: NaN/inf) or the slow-call rate reaches its threshold. Open, it refuses calls for ``open_seconds``; then it
is half-open and lets ``probes`` calls through: all succeed → closed (window cleared), any failure → open again.
Time comes from ``time.monotonic``; the breaker is used from the event loop only (no locks needed).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["BreakerConfig", "CircuitBreaker"]

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
STATE_CODE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
_OK = (False, False)  # (failed, slow) of a fast success

log = logging.getLogger("assay.serve")


@dataclass
class BreakerConfig:
    """Thresholds. Defaults follow resilience4j: 50 % failures or 100 % slow calls over the window opens it."""

    window: int = 20
    min_calls: int = 10
    failure_rate: float = 0.5
    slow_rate: float = 1.0
    slow_seconds: float = 1.0
    open_seconds: float = 10.0
    probes: int = 3


class CircuitBreaker:
    """State machine closed → open → half-open → closed, fed with one outcome per call."""

    def __init__(self, config: BreakerConfig | None = None, model: str = "", version: int | None = None) -> None:
        self.config = config or BreakerConfig()
        self.model, self.version = model, version  # whose breaker it is, for its log lines
        self.state = CLOSED
        self.calls: deque[tuple[bool, bool]] = deque()
        self.failures = 0  # failed / slow calls in ``calls``, kept as it changes: ``record`` is O(1) per request
        self.slows = 0
        self.opened_at = 0.0
        self.probes_started = 0
        self.probes_ok = 0
        self.opened_count = 0
        self.last_reason = ""

    def current(self) -> str:
        """The state now (an open breaker whose wait is over becomes half-open)."""
        if self.state == OPEN and time.monotonic() - self.opened_at >= self.config.open_seconds:
            self.state = HALF_OPEN
            self.probes_started = self.probes_ok = 0
            self._log(logging.INFO, f"half-open: {self.config.probes} probe call(s) decide")
        return self.state

    def allow(self) -> bool:
        """May a call go to this version now? (A half-open breaker admits a few probes.)"""
        state = self.current()
        if state == CLOSED:
            return True
        if state == OPEN:
            return False
        if self.probes_started < self.config.probes:
            self.probes_started += 1
            return True
        return False

    def release(self) -> None:
        """A call :meth:`allow` admitted ended without an outcome (bad input, shed, the client gone): the half-open
        probe place it took is given back, so that a few such calls cannot leave the breaker half-open for good,
        admitting nothing more and waiting for outcomes that never come."""
        if self.state == HALF_OPEN and self.probes_started > self.probes_ok:
            self.probes_started -= 1

    def record(self, failed: bool, seconds: float) -> None:
        """One call's outcome: ``failed`` for an exception or invalid output; slowness from ``seconds``."""
        config = self.config
        slow = seconds >= config.slow_seconds
        if not (failed or slow or self.failures or self.slows) and self.state == CLOSED:
            # The usual call (every request): a fast success while the window holds no failure or slow call
            # cannot open the breaker (with non-zero thresholds), so the rates are not worked out.
            calls = self.calls
            calls.append(_OK)
            if len(calls) > config.window:
                calls.popleft()  # a success too: the window holds nothing else
            if config.failure_rate > 0 and config.slow_rate > 0:
                return
            self._judge()
            return
        if self.state == HALF_OPEN:
            if failed or slow:
                self._open("probe failed" if failed else f"probe slow ({seconds:.3f}s)")
                return
            self.probes_ok += 1
            if self.probes_ok >= self.config.probes:
                self.state = CLOSED
                self._clear()
                self._log(logging.INFO, "closed: the probe calls succeeded")
            return
        if self.state == OPEN:  # a call admitted before the breaker opened finished late
            return
        calls = self.calls
        calls.append((failed, slow))
        self.failures += failed
        self.slows += slow
        if len(calls) > self.config.window:
            old_failed, old_slow = calls.popleft()
            self.failures -= old_failed
            self.slows -= old_slow
        self._judge()

    def _judge(self) -> None:
        """Open when the window is full enough and a rate reaches its threshold."""
        n = len(self.calls)
        if n < self.config.min_calls:
            return
        failures = self.failures / n
        slows = self.slows / n
        if failures >= self.config.failure_rate:
            self._open(f"failure rate {failures:.0%} over the last {n} calls")
        elif slows >= self.config.slow_rate:
            self._open(f"slow-call rate {slows:.0%} (≥ {self.config.slow_seconds}s) over the last {n} calls")

    def _open(self, reason: str) -> None:
        self.state = OPEN
        self.opened_at = time.monotonic()
        self.opened_count += 1
        self.last_reason = reason
        self._clear()
        self._log(logging.WARNING, f"open for {self.config.open_seconds:g}s: {reason}")

    def _log(self, level: int, what: str) -> None:
        """One log line per state change (with the model and version as fields of the JSON line)."""
        log.log(
            level,
            "circuit breaker of %s v%s %s",
            self.model,
            self.version,
            what,
            extra={"model": self.model, "version": self.version, "breaker": self.state},
        )

    def _clear(self) -> None:
        self.calls.clear()
        self.failures = self.slows = 0

    def snapshot(self) -> dict[str, object]:
        n = len(self.calls)
        return {
            "state": self.current(),
            "calls_in_window": n,
            "failure_rate": round(self.failures / n, 4) if n else 0.0,
            "slow_rate": round(self.slows / n, 4) if n else 0.0,
            "times_opened": self.opened_count,
            "last_reason": self.last_reason,
        }
