"""Shared fixtures: the real benchmark folder, the real SmolLM2 model, and a tiny random Llama model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never reach the network: a Hub lookup must fail fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark folder: $MOSR_DATA_DIR, else ../shared/data beside the repository."""
    path = Path(os.environ.get("MOSR_DATA_DIR") or DEFAULT_DATA_DIR)
    if not path.exists():
        pytest.fail(f"benchmark folder {path} not found; set MOSR_DATA_DIR")
    os.environ["MOSR_DATA_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def smollm2():
    """The real embedded model and tokenizer (float32), loaded once per test session."""
    from mosr.models import load_model

    model, tokenizer = load_model("smollm2-135m", dtype="float32", device="cpu")
    return model, tokenizer


@pytest.fixture(scope="session")
def smollm2_tokenizer(smollm2):
    return smollm2[1]


@pytest.fixture()
def tiny_model(smollm2_tokenizer):
    """A randomly initialised 4-layer Llama model that shares SmolLM2's tokenizer."""
    from mosr.models import build_tiny_model

    return build_tiny_model(seed=0, num_layers=4, hidden_size=64, vocab_size=len(smollm2_tokenizer))
