"""The retain L2 of one training step: which rows of a retain batch it covers."""

from __future__ import annotations

import pytest
import torch

from mosr.config import load_config
from mosr.models import build_tiny_model
from mosr.training import losses
from mosr.training.forward import run_layers
from mosr.training.step import StepSettings, TrainStep
from mosr.training.trainer import attach_lora

LAYERS = [1, 2]


@pytest.fixture(scope="module")
def lora_model():
    """A tiny model whose LoRA B is random, so adapted and frozen states differ at step 0."""
    config = load_config("smollm2-135m", {"train.lora.init_b_std": 0.5, "train.lora.dropout": 0.0})
    model = attach_lora(build_tiny_model(num_layers=3), config, lora_layers=[0, 1, 2])
    model.eval()
    return model


def _retain_batch(model) -> dict[str, torch.Tensor]:
    """Two rows: a compliant retain example (row 0) and a refusal example (row 1), frozen states attached."""
    generator = torch.Generator().manual_seed(3)
    input_ids = torch.randint(5, 250, (2, 7), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    with torch.no_grad(), model.disable_adapter():
        frozen, _ = run_layers(model, input_ids, attention_mask, LAYERS)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": torch.full_like(input_ids, -100),
        "refusal_rows": torch.tensor([False, True]),
        "weights": torch.ones(2),
        "frozen": frozen,
    }


def _retain_term(model, batch, retain_refusal_examples: bool) -> float:
    settings = StepSettings(
        target_layers=LAYERS, retain_layers=LAYERS, erasure=True, refusal=False, compliance=False,
        lambda_refusal=0.0, lambda_compliance=0.0, weight_refusal=False,
        retain_refusal_examples=retain_refusal_examples,
    )
    step = TrainStep(model, settings, losses.ErasureGeometry(name="plain"))
    with torch.no_grad():
        _, terms = step(None, batch, c_erasure=0.0, c_retain=1.0)
    return float(terms["loss_retain"])


def _row_distance(model, batch, row: int) -> float:
    with torch.no_grad():
        adapted, _ = run_layers(model, batch["input_ids"][row:row + 1], batch["attention_mask"][row:row + 1], LAYERS)
    return float((adapted - batch["frozen"][:, row:row + 1]).norm(dim=-1).mean())


def test_retain_covers_refusal_rows_by_default(lora_model):
    batch = _retain_batch(lora_model)
    both = (_row_distance(lora_model, batch, 0) + _row_distance(lora_model, batch, 1)) / 2

    assert _retain_term(lora_model, batch, retain_refusal_examples=True) == pytest.approx(both, rel=1e-4)


def test_retain_skips_refusal_rows_when_asked(lora_model):
    batch = _retain_batch(lora_model)
    compliant_only = _row_distance(lora_model, batch, 0)

    assert _row_distance(lora_model, batch, 1) != pytest.approx(compliant_only, rel=1e-2)
    assert _retain_term(lora_model, batch, retain_refusal_examples=False) == pytest.approx(compliant_only, rel=1e-4)
