"""Checkpoints that resume to the same adapter: LoRA weights, optimiser state, RNG state, step.

Tensors are stored as safetensors. The optimiser state dict is written with ``torch.save`` and
read back with ``torch.load(weights_only=True)``: it is a file this code wrote itself, and
``weights_only`` refuses anything but tensors and plain containers, so no pickled code runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mosr.errors import ConfigError

CHECKPOINT_DIR = "checkpoints"
LATEST = "latest"
# Fields that change neither the data nor the optimisation, so a resumed run may differ in them.
RUNTIME_FIELDS = {"checkpoint_every", "merge"}


def config_fingerprint(config: Any) -> str:
    """Hash the model, data and train sections that decide the trained adapter."""
    train = {k: v for k, v in config.train.model_dump(mode="json").items() if k not in RUNTIME_FIELDS}
    payload = {"model": config.model.model_dump(mode="json"), "data": config.data.model_dump(mode="json"), "train": train}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def _rng_state() -> dict[str, torch.Tensor]:
    state = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            state[f"torch_cuda_{index}"] = cuda_state
    return state


def save_checkpoint(
    out_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, fingerprint: str, rank: int = 0
) -> Path:
    """Write the state after ``step`` completed steps to ``checkpoints/latest`` (replaced atomically)."""
    root = out_dir / CHECKPOINT_DIR
    staging = root / f".step-{step}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    save_file(trainable_state(model), str(staging / "adapter_state.safetensors"))
    torch.save(optimizer.state_dict(), staging / "optimizer.pt")
    save_file(_rng_state(), str(staging / f"rng_rank{rank}.safetensors"))
    (staging / "state.json").write_text(json.dumps({"step": step, "fingerprint": fingerprint}), encoding="utf-8")
    target = root / LATEST
    previous = root / f".previous-{step}"
    if target.exists():
        target.rename(previous)
    staging.rename(target)
    if previous.exists():
        shutil.rmtree(previous)
    return target


def latest_checkpoint(out_dir: Path) -> Path | None:
    path = out_dir / CHECKPOINT_DIR / LATEST
    return path if (path / "state.json").exists() else None


def read_state(path: Path, fingerprint: str) -> int:
    """Return the completed step count of a checkpoint, raising if it belongs to another config."""
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    if state.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"the checkpoint in {path} was written by a run with a different configuration "
            f"(fingerprint {state.get('fingerprint')}, this run {fingerprint}); resume with the same "
            "config and overrides, or choose a new --out folder"
        )
    return int(state["step"])


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, rank: int = 0) -> None:
    """Restore LoRA weights, optimiser state and this process's RNG state from ``path``."""
    weights = load_file(str(path / "adapter_state.safetensors"))
    parameters = dict(model.named_parameters())
    missing = [name for name in weights if name not in parameters]
    if missing:
        raise ConfigError(f"checkpoint {path} has parameters this model lacks (e.g. {missing[0]}); it is from another model")
    with torch.no_grad():
        for name, value in weights.items():
            parameters[name].copy_(value)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    rng_path = path / f"rng_rank{rank}.safetensors"
    if rng_path.exists():
        rng = load_file(str(rng_path))
        torch.set_rng_state(rng["torch_cpu"])
        cuda_states = [rng[key] for key in sorted(rng) if key.startswith("torch_cuda_")]
        if cuda_states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda_states)
