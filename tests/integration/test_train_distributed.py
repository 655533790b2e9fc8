"""Two CPU processes (accelerate, gloo) give the same loss curve as one process with the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

UNIT_TESTS = Path(__file__).resolve().parents[1] / "unit"

WORKER = '''
import sys
sys.path.insert(0, {unit!r})
import test_train_fakes as train_fakes
from mosr.config import load_config
from mosr.models import build_tiny_model, load_tokenizer, resolve_model_source
from mosr.training import data as training_data
from mosr.training.trainer import train

def check(sets, names, loader):
    train_fakes.no_leak(sets.training_records(), {{name: loader(name) for name in names}})

training_data.check_leaks = check
source, _ = resolve_model_source("smollm2-135m")
tokenizer = load_tokenizer(source)
config = load_config(None, {{
    "model.name": "tiny", "train.method": "mosr", "train.target_layers": [1, 2], "train.batch_size": 4,
    "train.max_steps": 4, "train.lora.r": 4, "train.lora.dropout": 0.0, "train.data.n_validation": 1,
    "train.data.completion_max_new_tokens": 6, "train.precision": "float32", "train.length_group_size": 1,
    "train.data.completion_cache_dir": {cache!r},
}})
model = build_tiny_model(seed=0, num_layers=4, hidden_size=64, vocab_size=len(tokenizer))
train(config, sys.argv[1], model, tokenizer, loader=train_fakes.records, progress=False)
'''


def _losses(out: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_two_processes_match_one(tmp_path):
    if shutil.which("accelerate") is None and not (Path(sys.executable).parent / "accelerate").exists():
        pytest.skip("accelerate launcher not installed")
    script = tmp_path / "worker.py"
    cache = tmp_path / "cache"
    script.write_text(WORKER.format(unit=str(UNIT_TESTS), cache=str(cache)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = tmp_path / "single"
    subprocess.run([sys.executable, str(script), str(single)], check=True, env=env, timeout=600)
    double = tmp_path / "double"
    launcher = str(Path(sys.executable).parent / "accelerate")
    subprocess.run(
        [launcher, "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "--main_process_port", "29533", str(script), str(double)],
        check=True, env=env, timeout=900,
    )
    one, two = _losses(single), _losses(double)
    assert [row["step"] for row in one] == [row["step"] for row in two]
    for row_one, row_two in zip(one, two):
        for key in ("loss", "loss_erasure", "loss_refusal", "erasure_cosine"):
            assert row_two[key] == pytest.approx(row_one[key], rel=0.05, abs=1e-3), (row_one["step"], key)
        assert row_two["tokens"] == row_one["tokens"]
