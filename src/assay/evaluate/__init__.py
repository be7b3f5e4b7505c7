"""Evaluation: metrics per task, holdout and k-fold splits, the leaderboard with a paired test, tuning and automl.

>>> from assay.evaluate import PRIMARY_METRIC
>>> PRIMARY_METRIC["classification"]
'f1_macro'
"""

from __future__ import annotations

from assay.evaluate._cv import KINDS, fold_indices, holdout_indices
from assay.evaluate._leaderboard import corrected_ttest, leaderboard
from assay.evaluate._leakage import leakage_suspects
from assay.evaluate._metrics import GREATER_IS_BETTER, METRICS, PRIMARY_METRIC, score
from assay.evaluate._tune import SEARCH_SPACES, AutoMLResult, automl, best_threshold, cross_validate, tune

__all__ = [
    "GREATER_IS_BETTER",
    "KINDS",
    "METRICS",
    "PRIMARY_METRIC",
    "SEARCH_SPACES",
    "AutoMLResult",
    "automl",
    "best_threshold",
    "corrected_ttest",
    "cross_validate",
    "fold_indices",
    "holdout_indices",
    "leaderboard",
    "leakage_suspects",
    "score",
    "tune",
]
