from __future__ import annotations

import pytest

from assay import exceptions as ex


def test_every_error_is_an_assay_error_and_a_value_error():
    for name in ex.__all__:
        obj = getattr(ex, name)
        if isinstance(obj, type):
            assert issubclass(obj, ex.AssayError)
            assert issubclass(obj, ValueError)


def test_not_fitted_is_also_attribute_error():
    with pytest.raises(AttributeError):
        raise ex.NotFittedError("x")


def test_missing_dependency_is_import_error():
    from assay._deps import import_optional

    with pytest.raises(ImportError, match=r"pip install 'assay\[dask\]'"):
        import_optional("no_such_module_xyz", "dask")
