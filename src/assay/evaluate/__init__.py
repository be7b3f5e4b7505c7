"""Evaluation: metrics per task, holdout and k-fold splits, the leaderboard with a paired test, tuning and automl.

>>> from assay.evaluate import PRIMARY_METRIC
>>> PRIMARY_METRIC["classification"]
'f1_macro'
"""

from __future__ import annotations

from assay.evaluate._cv import KINDS, fold_indices, holdout_indices
from assay.evaluate._leaderboard import corrected_ttest, leaderboard
from assay.evaluate._metrics import GREATER_IS_BETTER, METRICS, PRIMARY_METRIC, score

__all__ = [
    "GREATER_IS_BETTER",
    "KINDS",
    "METRICS",
    "PRIMARY_METRIC",
    "corrected_ttest",
    "fold_indices",
    "holdout_indices",
    "leaderboard",
    "score",
]
