"""Training on the real SmolLM2 model and benchmark files: a few steps per method, adapter loads."""

from __future__ import annotations

import json

import pytest
from peft import PeftModel
from typer.testing import CliRunner

pytestmark = pytest.mark.integration

SMALL = [
    "train.max_steps=2",
    "train.batch_size=2",
    "train.data.n_erasure=6",
    "train.data.n_benign=6",
    "train.data.n_pseudo=4",
    "train.data.n_refusal=4",
    "train.data.n_reference=20",
    "train.data.n_validation=2",
    "train.data.completion_max_new_tokens=12",
    "train.max_response_tokens=32",
    "train.checkpoint_every=1",
]


def _cli(args):
    from mosr.cli import app

    return CliRunner().invoke(app, args, catch_exceptions=False)


def test_cli_train_mosr_adapter_loads(tmp_path, data_dir, smollm2):
    model, _ = smollm2
    out = tmp_path / "mosr"
    args = ["train", "--method", "mosr", "--model", "smollm2-135m", "--out", str(out)]
    result = _cli([*args, *[item for pair in SMALL for item in ("--set", pair)]])
    assert result.exit_code == 0, result.output
    adapter = out / "adapter"
    assert (adapter / "adapter_model.safetensors").exists()
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == "smollm2-135m"
    from mosr.models import load_model

    base, _ = load_model("smollm2-135m", dtype="float32", device="cpu")
    loaded = PeftModel.from_pretrained(base, str(adapter))
    assert any("lora_A" in name for name, _ in loaded.named_parameters())
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    splits = json.loads((out / "splits.json").read_text())
    assert len(splits["erasure"]) == 6
    assert (out / "oaw_weights.csv").exists()


def test_cli_resume_other_config_fails(tmp_path, data_dir):
    out = tmp_path / "sft"
    args = ["train", "--method", "refusal_sft", "--model", "smollm2-135m", "--out", str(out)]
    sets = [item for pair in SMALL for item in ("--set", pair)]
    assert _cli([*args, *sets]).exit_code == 0
    result = _cli([*args, *sets, "--set", "train.learning_rate=0.5", "--resume"])
    assert result.exit_code == 2
    assert "different configuration" in result.output
