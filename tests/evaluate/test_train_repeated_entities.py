"""Rows that repeat one person or thing: `assay train` suggests --group instead of flattering shuffled scores."""

from __future__ import annotations

import numpy as np
import polars as pl

from assay.evaluate._leakage import repeated_entities
from assay.pipeline import train


def _panel(people: int = 120, years: int = 6, seed: int = 0) -> pl.DataFrame:
    """Each person keeps one industry over the years; the other inputs barely tell it."""
    rng = np.random.default_rng(seed)
    industry = rng.choice(["farm", "mine", "shop", "bank"], people)
    rows = people * years
    return pl.DataFrame(
        {
            "nr": np.repeat(rng.permutation(10_000)[:people], years),
            "year": np.tile(np.arange(1980, 1980 + years), people),
            "hours": rng.normal(40, 5, rows),
            "age": rng.integers(18, 65, rows),
            "industry": np.repeat(industry, years),
        }
    )


def test_a_person_id_of_a_panel_is_named_with_group_advice():
    found = repeated_entities(_panel(), "industry", "classification")
    assert [hit["column"] for hit in found] == ["nr"]
    assert "--group 'nr'" in found[0]["message"]


def test_train_says_it_and_group_silences_it():
    shuffled = train(_panel(), "industry", models=["logreg"], report=False)
    assert len([n for n in shuffled.notes if "--group 'nr'" in n]) == 1
    grouped = train(_panel(), "industry", models=["logreg"], group="nr", report=False)
    assert not [n for n in grouped.notes if "'nr' repeats" in n]


def test_a_measurement_with_repeated_values_is_not_an_entity():
    rng = np.random.default_rng(1)
    disk = rng.choice(np.arange(40, 2000, 40), 1500)  # 49 sizes, ~30 rows each; price rises with them
    frame = pl.DataFrame(
        {"hd": disk, "ram": rng.choice([4, 8, 16], 1500), "price": 500 + 0.8 * disk + rng.normal(0, 150, 1500)}
    )
    assert repeated_entities(frame, "price", "regression") == []


def test_values_on_two_rows_each_are_too_few_to_tell():
    # esoph: 88 rows, 'ncontrols' holds 27 counts about twice each, and pairs of rows agree by chance
    rng = np.random.default_rng(4)
    controls = np.repeat(rng.permutation(np.arange(1, 200))[:44], 2)
    cases = np.repeat(rng.poisson(3, 44), 2) + rng.integers(0, 2, 88)
    frame = pl.DataFrame({"ncontrols": controls, "age": rng.integers(25, 75, 88), "ncases": cases})
    assert repeated_entities(frame, "ncases", "regression") == []


def test_a_time_split_of_a_panel_is_not_told_to_group():
    # Forecasting the same people's later years is the point of --time; --group and --time do not combine.
    result = train(_panel(), "industry", models=["logreg"], time="year", report=False)
    assert not [n for n in result.notes if "'nr' repeats" in n]
