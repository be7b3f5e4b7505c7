"""Models assay trains: its own gradient-descent linear models, LightGBM, scikit-learn baselines, clustering,
anomaly detection and recommenders, all built by name from one table (``MODEL_CLASSES``).

>>> from assay.models import make_model, default_models
>>> default_models("regression")
['linreg', 'lgbm', 'rf']
"""

from __future__ import annotations

from assay.models._anomaly import IsolationForestDetector, RobustZDetector
from assay.models._cluster import (
    DBSCANClusterer,
    GaussianMixtureAuto,
    HDBSCANClusterer,
    KMeansAuto,
    cluster_profiles,
)
from assay.models._linear import (
    LinearRegressionGD,
    LogisticRegressionGD,
    data_hessian,
    data_loss_grad,
    loss_grad,
    penalized_loss_grad,
)
from assay.models._persist import load_estimator, save_estimator
from assay.models._recommend import (
    ALSRecommender,
    BPRRecommender,
    ItemKNNRecommender,
    MFRecommender,
    PopularityRecommender,
    ranking_metrics,
    split_per_user,
)
from assay.models._registry import (
    MODEL_CLASSES,
    MODEL_TASKS,
    MODELS,
    TASKS,
    adapt_to_rows,
    default_models,
    make_model,
    model_name_of,
    models_for,
)

__all__ = [
    "MODELS",
    "MODEL_CLASSES",
    "MODEL_TASKS",
    "TASKS",
    "ALSRecommender",
    "BPRRecommender",
    "DBSCANClusterer",
    "GaussianMixtureAuto",
    "HDBSCANClusterer",
    "IsolationForestDetector",
    "ItemKNNRecommender",
    "KMeansAuto",
    "LinearRegressionGD",
    "LogisticRegressionGD",
    "MFRecommender",
    "PopularityRecommender",
    "RobustZDetector",
    "adapt_to_rows",
    "cluster_profiles",
    "data_hessian",
    "data_loss_grad",
    "default_models",
    "load_estimator",
    "loss_grad",
    "make_model",
    "model_name_of",
    "models_for",
    "penalized_loss_grad",
    "ranking_metrics",
    "save_estimator",
    "split_per_user",
]
