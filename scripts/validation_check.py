"""Train one method and judge it on the run's held-out validation prompts (the tuning loop).

Every row of docs/tuning-training.md comes from this script. It never touches evaluation
prompts: the validation prompts are held out from the training sources by ``select_sets``.

Usage:
    OMP_NUM_THREADS=1 python scripts/validation_check.py OUT_DIR METHOD [KEY=VALUE ...]

METHOD is a method preset (rr, mosr, ...) or ``base`` (no training, writes the splits only).
KEY=VALUE pairs are config overrides as for ``--set``. Set COMPLETIONS to a folder holding
``harmful_completions.jsonl`` to share the base model's harmful completions between runs, and
LIMIT to the number of prompts per group (default 20).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
import yaml

from mosr.config import load_config
from mosr.models import attach_adapter, load_model
from mosr.training import data as training_data
from mosr.training.behaviour import behaviour_check
from mosr.training.trainer import train

LOGGED = ("loss_erasure", "loss_retain", "erasure_cosine", "loss_refusal", "loss_compliance")


def main() -> None:
    out, method, *pairs = sys.argv[1:]
    out = Path(out)
    overrides = {key: yaml.safe_load(value) for key, value in (pair.split("=", 1) for pair in pairs)}
    if os.environ.get("COMPLETIONS"):
        overrides["train.data.completion_cache_dir"] = os.environ["COMPLETIONS"]
    if method != "base":
        overrides["train.method"] = method
    config = load_config("smollm2-135m", overrides)
    model, tokenizer = load_model(config.model.name, dtype="float32", device="cpu")

    started = time.time()
    if method == "base":
        out.mkdir(parents=True, exist_ok=True)
        sets = training_data.select_sets(config.train, training_data.default_loader(config.data.data_dir))
        training_data.write_splits(out, sets)
        checked = model
    else:
        train(config, out, model, tokenizer, progress=False)
        checked = attach_adapter(model, out / "adapter")
    train_seconds = time.time() - started

    # bfloat16 for speed: on the quick suite its judged rates stayed within one prompt of float32.
    started = time.time()
    checked.to(torch.bfloat16)
    splits = json.loads((out / "splits.json").read_text(encoding="utf-8"))
    splits["validation"].pop("benign", None)
    (out / "splits_check.json").write_text(json.dumps(splits), encoding="utf-8")
    report = behaviour_check(checked, tokenizer, out / "splits_check.json", max_new_tokens=40,
                             limit=int(os.environ.get("LIMIT", 20)))
    report.update(train_seconds=train_seconds, check_seconds=time.time() - started, overrides=overrides, method=method)
    (out / "behaviour.json").write_text(json.dumps(report, indent=1), encoding="utf-8")

    log = out / "train_log.jsonl"
    if log.exists():
        rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        print("first:", {key: round(rows[0][key], 4) for key in LOGGED})
        print("last: ", {key: round(rows[-1][key], 4) for key in LOGGED})
    for group, result in report["groups"].items():
        print(group, result["counts"], "compliance rate", result["compliance_rate"])


if __name__ == "__main__":
    main()
