"""The public face is deliberate: every name in __all__ exists, and importing assay stays light."""

from __future__ import annotations

import subprocess
import sys

import assay


def test_all_names_exist():
    for name in assay.__all__:
        assert hasattr(assay, name), name


def test_version_string():
    assert assay.__version__.count(".") == 2


def test_import_does_not_pull_heavy_or_optional_libraries():
    code = (
        "import sys, assay; heavy = ['dask', 'distributed', 'fastapi', 'uvicorn', 'psycopg', 'pymysql', 'redis', "
        "'lightgbm', 'sklearn', 'matplotlib', 'optuna']; print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_dash_m_assay_runs():
    out = subprocess.run([sys.executable, "-m", "assay", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == assay.__version__
