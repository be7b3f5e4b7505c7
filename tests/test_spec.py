"""Pipeline spec validation: errors name the field, the closest valid name and every valid one."""

from __future__ import annotations

import pytest

from assay.exceptions import SpecError
from assay.spec import parse_spec


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"source": "x.csv", "targett": "y"}, "targett: unknown field; did you mean 'target'?"),
        (
            {"source": "x.csv", "evaluation": {"tst_size": 0.3}},
            "evaluation.tst_size: unknown field; did you mean 'test_size'?",
        ),
        (
            {"source": "x.csv", "output": {"dirr": "out"}},
            "output.dirr: unknown field; did you mean 'dir'? (valid: dir, report)",
        ),
    ],
)
def test_misspelt_field_gets_the_closest_name(data, expected):
    with pytest.raises(SpecError) as info:
        parse_spec(data, origin="p.yaml")
    assert expected in str(info.value)


def test_unknown_field_with_no_close_name_lists_the_valid_ones():
    with pytest.raises(SpecError) as info:
        parse_spec({"source": "x.csv", "evaluation": {"zzz": 1}}, origin="p.yaml")
    message = str(info.value)
    assert "evaluation.zzz: unknown field (valid: folds, test_size, seed" in message
    assert "did you mean" not in message


def test_a_valid_spec_parses():
    spec = parse_spec({"source": "x.csv", "target": "y", "evaluation": {"test_size": 0.3}})
    assert spec.evaluation.test_size == 0.3


def test_folds_left_out_of_a_spec_are_chosen_at_training():
    from assay.spec import parse_spec

    assert parse_spec({"source": "data.csv", "target": "y"}).evaluation.folds is None
    assert parse_spec({"source": "data.csv", "evaluation": {"folds": 3}}).evaluation.folds == 3


def test_a_data_file_given_as_a_spec_says_how_to_train_on_it(tmp_path):
    from assay.spec import load_spec

    data = tmp_path / "sales.csv"
    data.write_text("a,b\n1,2\n")
    with pytest.raises(SpecError, match=r"sales\.csv is a data file, not a pipeline spec .* assay train .*sales\.csv "
                                        r"--target COLUMN"):
        load_spec(data)
