"""Wilson intervals, rates with id manifests, and judge agreement statistics."""

from __future__ import annotations

import pytest

from mosr.evaluation.metrics import agreement, mean_with_interval, rate, wilson_interval


# Reference values: Wilson score interval with z = 1.959964, worked by hand from
# (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), rounded to 4 decimals.
@pytest.mark.parametrize(
    "successes, total, low, high",
    [(0, 10, 0.0000, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0000), (1, 4, 0.0456, 0.6994)],
)
def test_wilson_interval_known_values(successes, total, low, high):
    result = wilson_interval(successes, total)
    assert round(result[0], 4) == low
    assert round(result[1], 4) == high


def test_wilson_interval_empty_sample_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_rejects_bad_counts():
    with pytest.raises(ValueError, match="invalid counts"):
        wilson_interval(11, 10)


def test_rate_keeps_ids_and_definition():
    result = rate(["a", "b", "c", "d"], [True, False, False, True], "refusal")
    assert result["rate"] == 0.5
    assert result["count"] == 2
    assert result["n"] == 4
    assert result["ids"] == ["a", "b", "c", "d"]
    assert result["definition"] == "refusal"
    assert result["ci95"][0] < 0.5 < result["ci95"][1]


def test_rate_length_mismatch_is_error():
    with pytest.raises(ValueError, match="2 ids but 1 flags"):
        rate(["a", "b"], [True], "x")


def test_agreement_kappa_by_hand():
    # observed agreement 0.75, chance agreement 0.5 -> kappa 0.5
    result = agreement(["a", "a", "b", "b"], ["a", "b", "b", "b"], labels=["a", "b"])
    assert result["accuracy"] == 0.75
    assert result["kappa"] == pytest.approx(0.5)
    assert result["per_class"]["a"]["precision"] == 1.0
    assert result["per_class"]["a"]["recall"] == 0.5
    assert result["confusion"]["rows_gold_columns_predicted"] == [[1, 1], [0, 2]]


def test_agreement_single_label_has_no_kappa():
    result = agreement(["a", "a"], ["a", "a"])
    assert result["accuracy"] == 1.0
    assert result["kappa"] is None


def test_mean_with_interval():
    result = mean_with_interval([1.0, 2.0, 3.0])
    assert result["mean"] == 2.0
    assert result["n"] == 3
    assert result["ci95"][0] < 2.0 < result["ci95"][1]
