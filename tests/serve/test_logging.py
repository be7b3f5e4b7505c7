"""The server logs JSON lines: its own records, uvicorn's, and Python warnings raised by libraries."""

from __future__ import annotations

import json
import logging
import warnings

from assay.serve._app import configure_logging


def test_log_lines_and_warnings_are_json(capsys) -> None:
    names = ("assay", "uvicorn", "uvicorn.error", "py.warnings")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in names}
    try:
        configure_logging("info")
        logging.getLogger("assay.serve").info("model %s now serves v%s", "iris", 2, extra={"model": "iris"})
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("overflow encountered in cast", RuntimeWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
        for n, (handlers, level, propagate) in saved.items():
            logger = logging.getLogger(n)
            logger.handlers[:], logger.propagate = handlers, propagate
            logger.setLevel(level)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "model iris now serves v2"
    assert lines[0]["model"] == "iris"
    assert lines[0]["level"] == "info"
    assert lines[1]["logger"] == "py.warnings"
    assert lines[1]["level"] == "warning"
    assert "RuntimeWarning: overflow encountered in cast" in lines[1]["message"]
    assert len(lines) == 2
