"""mosr evaluate and mosr judges validate on the real SmolLM2 model and the real benchmark files."""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from typer.testing import CliRunner

from mosr.evaluation.config import EvalConfig
from mosr.evaluation.runner import evaluate_model

pytestmark = pytest.mark.integration


@pytest.fixture()
def small_suite(tmp_path):
    suite = {
        "name": "integration",
        "description": "a handful of real prompts per task",
        "max_new_tokens": 24,
        "tasks": [
            {"dataset": "xstest_safe", "kind": "over_refusal", "limit": 3},
            {"dataset": "harmbench_test", "kind": "safety", "limit": 3, "attacks": ["direct", "prefill", "suffix"]},
            {"dataset": "arc_easy", "kind": "multiple_choice", "limit": 6},
            {"dataset": "alpaca_pairs", "kind": "reference_nll", "limit": 3},
        ],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return str(path)


def test_evaluate_real_model(smollm2, data_dir, small_suite, tmp_path):
    model, tokenizer = smollm2
    config = EvalConfig(suite_file=small_suite, batch_size=8)
    results = evaluate_model(model, tokenizer, config, tmp_path / "eval", data_dir=str(data_dir))

    assert results["model"] == "smollm2-135m"
    assert results["generation"]["max_new_tokens"] == 24
    over_refusal = results["over_refusal"]["xstest_safe"]
    assert len(over_refusal["prompt_ids"]) == 3
    assert all(i.startswith("xstest_safe:") for i in over_refusal["prompt_ids"])
    harm = results["safety"]["harmbench_test"]["attacks"]
    assert {"direct", "prefill", "suffix"} == set(harm)
    assert harm["direct"]["asr"]["n"] == 3

    with (tmp_path / "eval" / "judgements.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 + 3 * 3
    for row in rows:
        assert row["judge"] == "refusal_phrases"
        if row["attack"] == "prefill":
            assert row["prefill"].startswith("Sure")
            assert row["response"].startswith(row["prefill"])
        if row["attack"] == "suffix":
            assert len(row["prompt"]) > 20
    mc = results["capability"]["multiple_choice"]["arc_easy"]
    assert mc["acc"]["n"] == 6
    assert results["capability"]["reference_nll"]["alpaca_pairs"]["nll"]["mean"] > 0


def test_judges_validate_cli(data_dir, tmp_path):
    from mosr.cli import app

    out = tmp_path / "judges"
    result = CliRunner().invoke(
        app, ["judges", "validate", "--out", str(out), "--judge", "refusal_phrases", "--judge", "xstest_strmatch",
              "--limit", "300", "--data-dir", str(data_dir)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "judges.json").read_text())
    phrases = report["judges"]["refusal_phrases"]["xstest_completions"]
    assert phrases["held_out_half"]["two_way"]["n"] > 0
    assert phrases["tuning_half"]["two_way"]["accuracy"] > 0.8
    assert (out / "judges.md").read_text().startswith("# Judge validation")
    assert (out / "confusions_refusal_phrases.csv").exists()
