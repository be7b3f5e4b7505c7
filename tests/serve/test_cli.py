"""`assay serve` refuses option values that would make the server misbehave, with a one-line error (no server is
started, no traceback)."""

from __future__ import annotations

import pytest

from assay.cli import main


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--breaker-failure-rate", "0"], "--breaker-failure-rate is a share of the window's calls"),
        (["--breaker-failure-rate", "1.5"], "above 0 and at most 1"),
        (["--breaker-slow-rate", "-0.2"], "--breaker-slow-rate is a share"),
        (["--breaker-slow-ms", "0"], "--breaker-slow-ms must be above 0"),
        (["--log-level", "loud"], "--log-level must be debug, info, warning or error, got 'loud'"),
        (["--log-mode", "sometimes"], "--log-mode must be durable or async"),
        # (a window of 5 never holds the default 10 calls: the breaker could never open, without a word)
        (["--breaker-window", "5"], "--breaker-min-calls 10 is more than --breaker-window 5"),
    ],
)
def test_bad_option_values_are_refused_before_serving(args, says, tmp_path, capsys) -> None:
    assert main(["serve", "--registry", str(tmp_path / "registry"), "--port", "0", *args]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [["--degrade-at", "-3"], ["--breaker-open-seconds", "-5"]])
def test_negative_counts_and_times_are_usage_errors(args, tmp_path, capsys) -> None:
    assert main(["serve", "--registry", str(tmp_path / "registry"), "--port", "0", *args]) == 2
    assert args[0] in capsys.readouterr().err
