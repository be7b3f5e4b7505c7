"""The circuit breaker's state machine, fed outcomes directly (the server tests trip it through real requests)."""

from __future__ import annotations

import random

import pytest

from assay.serve._breaker import CLOSED, HALF_OPEN, OPEN, BreakerConfig, CircuitBreaker


def _rates(outcomes: list[tuple[bool, bool]], window: int) -> tuple[float, float, int]:
    last = outcomes[-window:]
    n = len(last)
    return sum(f for f, _ in last) / n, sum(s for _, s in last) / n, n


@pytest.mark.parametrize("seed", range(5))
def test_window_counts_match_a_recount(seed: int) -> None:
    """The kept failure/slow counts equal a recount of the last ``window`` calls at every step, and the breaker
    opens exactly when a recount says it should."""
    rng = random.Random(seed)
    config = BreakerConfig(window=20, min_calls=10, failure_rate=0.5, slow_rate=0.8, slow_seconds=1.0)
    breaker = CircuitBreaker(config)
    seen: list[tuple[bool, bool]] = []
    opened = 0
    for _ in range(2000):
        failed = rng.random() < 0.3
        seconds = 2.0 if rng.random() < 0.5 else 0.01
        breaker.record(failed, seconds)
        if breaker.state == OPEN:
            seen.append((failed, seconds >= 1.0))
            failures, slows, n = _rates(seen, config.window)
            assert n >= config.min_calls
            assert failures >= config.failure_rate or slows >= config.slow_rate
            opened += 1
            breaker.state, seen = CLOSED, []  # start over: the open breaker cleared its window
            assert breaker.snapshot()["calls_in_window"] == 0
            continue
        seen.append((failed, seconds >= 1.0))
        failures, slows, n = _rates(seen, config.window)
        snap = breaker.snapshot()
        assert snap["calls_in_window"] == n
        assert snap["failure_rate"] == round(failures, 4)
        assert snap["slow_rate"] == round(slows, 4)
        assert n < config.min_calls or (failures < config.failure_rate and slows < config.slow_rate)
    assert opened > 10  # the random outcomes did trip it, so both branches above were exercised


@pytest.mark.parametrize("failure_rate", [0.5, 0.0])
def test_long_runs_of_successes_between_bursts_match_a_recount(failure_rate: float) -> None:
    """Mostly fast successes (the common case, counted without working out the rates while the window is clean)
    with bursts of failures and slow calls: the breaker still opens exactly when a recount says it should, also
    with a zero threshold (where any full enough window opens it)."""
    rng = random.Random(7)
    config = BreakerConfig(window=20, min_calls=10, failure_rate=failure_rate, slow_rate=0.8, slow_seconds=1.0)
    breaker = CircuitBreaker(config)
    seen: list[tuple[bool, bool]] = []
    opened = 0
    for step in range(3000):
        burst = (step // 50) % 4 == 3  # 50 calls of bursts after every 150 calls of successes
        failed = burst and rng.random() < 0.7
        seconds = 2.0 if burst and rng.random() < 0.9 else 0.01
        breaker.record(failed, seconds)
        seen.append((failed, seconds >= 1.0))
        failures, slows, n = _rates(seen, config.window)
        should_open = n >= config.min_calls and (failures >= config.failure_rate or slows >= config.slow_rate)
        assert (breaker.state == OPEN) == should_open
        if should_open:
            opened += 1
            breaker.state, seen = CLOSED, []
    assert opened > (100 if failure_rate == 0 else 5)


def test_half_open_probes_close_or_reopen() -> None:
    breaker = CircuitBreaker(BreakerConfig(window=4, min_calls=2, open_seconds=0.0, probes=2))
    breaker.record(True, 0.0)
    breaker.record(True, 0.0)
    assert breaker.state == OPEN
    assert "failure rate 100%" in breaker.last_reason
    assert breaker.current() == HALF_OPEN
    assert breaker.allow()
    assert breaker.allow()
    assert not breaker.allow()
    breaker.record(False, 0.0)
    breaker.record(True, 0.0)
    assert breaker.state == OPEN
    assert breaker.last_reason == "probe failed"
    assert breaker.current() == HALF_OPEN
    breaker.record(False, 0.0)
    breaker.record(False, 0.0)
    assert breaker.state == CLOSED
    assert breaker.snapshot()["calls_in_window"] == 0
    breaker.record(False, 0.0)
    breaker.record(True, 0.0)  # 50 % failures over 2 calls: opens again
    assert breaker.state == OPEN
    assert breaker.opened_count == 3


def test_a_released_probe_gives_its_place_back() -> None:
    breaker = CircuitBreaker(BreakerConfig(window=2, min_calls=2, open_seconds=0.0, probes=2))
    breaker.record(True, 0.0)
    breaker.record(True, 0.0)
    assert breaker.current() == HALF_OPEN
    assert breaker.allow()
    assert breaker.allow()
    assert not breaker.allow()
    breaker.release()  # one probe ended without an outcome (say, its input was refused)
    assert breaker.allow()
    breaker.record(False, 0.0)
    breaker.record(False, 0.0)
    assert breaker.state == CLOSED
    breaker.release()  # closed: nothing to give back
    assert breaker.probes_started == 2
