"""Saving and loading fitted estimators without pickle: JSON, LightGBM's text model, or skops with a type audit.

- assay's own estimators write ``model.json`` (parameters and learned values) and, when they hold big matrices,
  ``arrays.npz`` (read back with ``allow_pickle=False``).
- LightGBM writes its native text model ``model.txt`` plus ``lgbm.json`` (classes, parameters); loading rebuilds
  the scikit-learn-API object around the booster, so it predicts exactly as before.
- Other scikit-learn estimators go through ``skops.io``; on load every type in the file must be on an explicit
  allow-list (scikit-learn, NumPy, SciPy built-ins), otherwise the file is refused.

The artifact layer (manifest, hashes, versions) lives in ``assay.registry``; this module only fills one directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from assay.exceptions import ArtifactError
from assay.models._registry import model_name_of

__all__ = ["load_estimator", "save_estimator"]

PAYLOAD_VERSION = 1

# Module prefixes whose types skops may rebuild; anything else in a .skops file is refused.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.", "assay.models.")


def _class_path(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}:{cls.__name__}"


def _import(path: str) -> type:
    import importlib

    module, _, name = path.partition(":")
    if not module.startswith(("assay.", "lightgbm")):
        msg = f"refusing to load model class {path!r}: not an assay or LightGBM class"
        raise ArtifactError(msg)
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        msg = f"model class {path!r} named in the artifact does not exist in this version of assay"
        raise ArtifactError(msg) from exc


def _labels_to_json(values: np.ndarray) -> dict[str, Any]:
    return {"values": values.tolist(), "dtype": values.dtype.str}


def _labels_from_json(obj: dict[str, Any]) -> np.ndarray:
    return np.asarray(obj["values"], dtype=np.dtype(obj["dtype"]))


def _jsonable(value: Any) -> Any:
    """Parameters as JSON values (numpy scalars become Python ones; dict keys become strings)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def save_estimator(est: Any, directory: Path, *, name: str | None = None) -> dict[str, Any]:
    """Write a fitted estimator's payload files into ``directory``; return a JSON-able description for the manifest.

    The returned dict holds ``"model"`` (table name), ``"class"`` (``module:Class``), ``"format"``
    (``"json"``, ``"assay"``, ``"lightgbm"`` or ``"skops"``), ``"files"`` and whatever :func:`load_estimator` needs.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"model": name or model_name_of(est), "class": _class_path(est),
                            "payload_version": PAYLOAD_VERSION}
    if hasattr(est, "_to_payload"):
        doc, arrays = est._to_payload()
        files = ["model.json"]
        (directory / "model.json").write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
        if arrays:
            np.savez(directory / "arrays.npz", **arrays)
            files.append("arrays.npz")
        meta.update(format="assay", files=files)
        return meta
    if type(est).__module__.startswith("lightgbm"):
        return {**meta, **_save_lightgbm(est, directory)}
    return {**meta, **_save_skops(est, directory)}


def load_estimator(directory: Path, meta: dict[str, Any]) -> Any:
    """Rebuild the estimator :func:`save_estimator` wrote into ``directory`` (described by ``meta``)."""
    directory = Path(directory)
    version = int(meta.get("payload_version", 0))
    if version > PAYLOAD_VERSION:
        msg = (f"model payload in {directory} has format version {version}, newer than this assay reads "
               f"({PAYLOAD_VERSION}); upgrade assay")
        raise ArtifactError(msg)
    fmt = meta.get("format")
    try:
        if fmt == "assay":
            cls = _import(meta["class"])
            doc = json.loads((directory / "model.json").read_text(encoding="utf-8"))
            arrays: dict[str, np.ndarray] = {}
            if "arrays.npz" in meta.get("files", []):
                with np.load(directory / "arrays.npz", allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in npz.files}
            return cls._from_payload(doc, arrays)
        if fmt == "lightgbm":
            return _load_lightgbm(directory, meta)
        if fmt == "skops":
            return _load_skops(directory, meta)
    except FileNotFoundError as exc:
        msg = f"model payload in {directory} is incomplete: {Path(exc.filename).name} is missing"
        raise ArtifactError(msg) from exc
    msg = f"model payload in {directory} has unknown format {fmt!r}; valid: assay, lightgbm, skops"
    raise ArtifactError(msg)


# ------------------------------------------------------------------------------------------------- LightGBM
def _save_lightgbm(est: Any, directory: Path) -> dict[str, Any]:
    booster = est.booster_
    (directory / "model.txt").write_text(booster.model_to_string(), encoding="utf-8")
    doc: dict[str, Any] = {"params": _jsonable(est.get_params()), "n_features": int(est.n_features_in_),
                           "objective": est.objective_ if isinstance(est.objective_, str) else None,
                           "best_iteration": int(est.best_iteration_ or 0)}
    if hasattr(est, "classes_"):
        doc["classes"] = _labels_to_json(np.asarray(est.classes_))
    (directory / "lgbm.json").write_text(json.dumps(doc), encoding="utf-8")
    return {"format": "lightgbm", "files": ["model.txt", "lgbm.json"]}


def _load_lightgbm(directory: Path, meta: dict[str, Any]) -> Any:
    import lightgbm as lgb
    from lightgbm.compat import _LGBMLabelEncoder

    cls = _import(meta["class"])
    doc = json.loads((directory / "lgbm.json").read_text(encoding="utf-8"))
    est = cls(**doc["params"])
    # Rebuild the fitted state LightGBM's fit() would set; the booster itself is the exact trained model.
    est._Booster = lgb.Booster(model_str=(directory / "model.txt").read_text(encoding="utf-8"))
    est._n_features = est._n_features_in = int(doc["n_features"])
    est._objective = doc["objective"]
    est._best_iteration = doc["best_iteration"]
    est._best_score = {}
    est._evals_result = {}
    est._fitted_with_feature_names = False
    if "classes" in doc:
        classes = _labels_from_json(doc["classes"])
        est._le = _LGBMLabelEncoder().fit(classes)
        est._classes = est._le.classes_
        est._n_classes = len(classes)
        est._class_map = dict(zip(est._le.classes_, est._le.transform(est._le.classes_), strict=True))
    est.fitted_ = True
    return est


# ---------------------------------------------------------------------------------------------------- skops
def _save_skops(est: Any, directory: Path) -> dict[str, Any]:
    import skops.io as sio

    path = directory / "model.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    return {"format": "skops", "files": ["model.skops"], "types": sorted(untrusted)}


def _load_skops(directory: Path, meta: dict[str, Any]) -> Any:
    import skops.io as sio

    path = directory / "model.skops"
    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if refused:
        msg = f"refusing to load {path}: it contains types outside scikit-learn/NumPy/SciPy: {', '.join(refused)}"
        raise ArtifactError(msg)
    return sio.load(path, trusted=untrusted)
