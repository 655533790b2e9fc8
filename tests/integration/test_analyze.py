"""mosr analyze end to end on the real SmolLM2 model and the real benchmark files (a handful of prompts)."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


def test_analyze_cli_smollm2(data_dir, smollm2, tmp_path):
    from mosr.cli import app

    out_dir = tmp_path / "analysis"
    # AdvBench alone as the malicious group: HarmBench's contextual prompts run to 1000 tokens,
    # which would make this test several times slower on 2 CPU cores.
    arguments = [
        "analyze", "--model", "smollm2-135m", "--limit", "4", "--malicious", "advbench",
        "--behaviour-limit", "4", "--set", "analysis.behaviour_max_new_tokens=16", "--set", "model.device=cpu",
        "--data-dir", str(data_dir), "--out", str(out_dir),
    ]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output

    for name in ("analysis.json", "summary.md", "representations.safetensors", "representations.json",
                 "behaviour.jsonl", "boundary_position.png", "projection_histograms.png", "pca.png"):
        assert (out_dir / name).exists(), name

    analysis = json.loads((out_dir / "analysis.json").read_text())
    assert analysis["model"] == "smollm2-135m"
    assert analysis["num_layers"] == 30
    assert len(analysis["layers"]) == 30
    assert all(math.isfinite(layer["boundary_position"]) for layer in analysis["layers"])
    assert {len(ids) for ids in analysis["prompt_ids"].values()} == {4}
    assert {i.split(":")[0] for i in analysis["prompt_ids"]["pseudo_malicious"]} == {
        "xstest_safe", "oktest", "phtest_harmless"
    }
    assert analysis["behaviour"]["n"] == 4
    assert 0.0 <= analysis["behaviour"]["refusal_rate"] <= 1.0

    # A second run with the same model and prompts reads the stored representations.
    stored = (out_dir / "representations.safetensors").stat().st_mtime_ns
    again = CliRunner().invoke(app, arguments)
    assert again.exit_code == 0, again.output
    assert (out_dir / "representations.safetensors").stat().st_mtime_ns == stored


def test_analyze_cli_bad_layer(data_dir, tmp_path):
    from mosr.cli import app

    result = CliRunner().invoke(app, [
        "analyze", "--model", "smollm2-135m", "--limit", "4", "--layers", "30",
        "--data-dir", str(data_dir), "--out", str(tmp_path / "out"),
    ])
    assert result.exit_code == 2
    assert "out of range" in result.output
