"""A column whose numbers write the decimal mark as a comma (1.234,56) reads its values with one separator before
three digits that way too: 1.500 is fifteen hundred there, not one and a half."""

from __future__ import annotations

import polars as pl
import pytest

from assay.clean import TypesStep


def _fit(values: list[str], lazy: bool = False) -> tuple[TypesStep, list]:
    frame = pl.DataFrame({"v": values})
    step = TypesStep().fit(frame.lazy() if lazy else frame)
    return step, step.transform(frame)["v"].to_list()


@pytest.mark.parametrize("lazy", [False, True])
def test_a_dot_before_three_digits_groups_thousands_in_a_decimal_comma_column(lazy: bool) -> None:
    step, out = _fit(["1.234,56", "1.500", "€ 2.750", "3,5", "12"], lazy=lazy)
    assert step.state_["convert"]["v"] == {"kind": "number", "format": None, "decimal": ","}
    assert out == pytest.approx([1234.56, 1500.0, 2750.0, 3.5, 12.0])


def test_a_comma_before_three_digits_is_the_decimal_mark_in_a_decimal_comma_column() -> None:
    step, out = _fit(["2,5", "0,75", "1,250", "10,0"])
    assert step.state_["convert"]["v"]["decimal"] == ","
    assert out == pytest.approx([2.5, 0.75, 1.25, 10.0])


def test_new_data_is_read_with_the_decimal_mark_learned() -> None:
    step, _ = _fit(["1.234,56", "7,5"])
    out = step.transform(pl.DataFrame({"v": ["1.500", "2,125", "1.000.000"]}))["v"].to_list()
    assert out == pytest.approx([1500.0, 2.125, 1_000_000.0])


def test_a_column_with_decimal_dots_reads_as_before() -> None:
    step, out = _fit(["1,500", "2.5", "1.250", "3"])
    assert "decimal" not in step.state_["convert"]["v"]
    assert out == pytest.approx([1500.0, 2.5, 1.25, 3.0])


def test_a_column_showing_both_marks_reads_each_value_as_written() -> None:
    step, out = _fit(["1,234.5", "3,5", "1.500"])
    assert "decimal" not in step.state_["convert"]["v"]
    assert out == pytest.approx([1234.5, 3.5, 1.5])
