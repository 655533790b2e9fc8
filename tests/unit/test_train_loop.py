"""Training loop on a tiny random model: losses move, resume is exact, bad input fails clearly."""

from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

from mosr.config import load_config
from mosr.errors import ConfigError, DataError
from mosr.models import build_tiny_model
from mosr.training import data as training_data
from mosr.training.trainer import train

import test_train_fakes as train_fakes

TINY = {
    "model.name": "tiny",
    "train.target_layers": [1, 2],
    "train.batch_size": 2,
    "train.max_steps": 4,
    "train.lora.r": 4,
    "train.lora.dropout": 0.0,
    "train.data.n_validation": 1,
    "train.data.completion_max_new_tokens": 6,
    "train.precision": "float32",
}


@pytest.fixture(autouse=True)
def fake_leak_check(monkeypatch):
    """Use an exact-match leak check on the hand-built records (no benchmark files)."""

    def check(sets, names, loader):
        train_fakes.no_leak(sets.training_records(), {name: loader(name) for name in names})

    monkeypatch.setattr(training_data, "check_leaks", check)


@pytest.fixture(scope="module")
def completion_cache(tmp_path_factory):
    """One cache of the tiny model's completions for every run of this module (generation is the slow part)."""
    return str(tmp_path_factory.mktemp("completions"))


@pytest.fixture(autouse=True)
def shared_cache(monkeypatch, completion_cache):
    monkeypatch.setitem(TINY, "train.data.completion_cache_dir", completion_cache)


def _run(tmp_path, tokenizer, name="run", resume=False, stop_after=None, **overrides):
    config = load_config(None, {**TINY, **overrides})
    model = build_tiny_model(seed=0, num_layers=4, hidden_size=64, vocab_size=len(tokenizer))
    out = tmp_path / name
    adapter = train(config, out, model, tokenizer, resume=resume, loader=train_fakes.records, stop_after=stop_after, progress=False)
    return out, adapter


def _log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def _adapter_tensors(adapter):
    return load_file(str(adapter / "adapter_model.safetensors"))


def test_mosr_run_writes_run_folder(tmp_path, smollm2_tokenizer):
    out, adapter = _run(
        tmp_path, smollm2_tokenizer,
        **{"train.method": "mosr", "train.oaw.apply_to_refusal": True, "train.data.completion_cache_dir": None},
    )
    for name in ("config.yaml", "splits.json", "oaw_weights.csv", "oaw_weights.json", "oaw_weights.png",
                 "oaw_extremes.md", "train_log.jsonl", "summary.json", "examples_preview.jsonl",
                 "harmful_completions.jsonl"):
        assert (out / name).exists(), name
    rows = _log(out)
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    for key in ("loss_erasure", "loss_retain", "loss_refusal", "loss_compliance", "c_erasure", "c_retain",
                "lr", "tokens_per_s", "erasure_cosine", "retain_distance"):
        assert key in rows[0], key
    assert rows[0]["c_retain"] == 0.0
    assert rows[0]["loss_refusal"] > 0
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "tiny"


def test_adapter_loads_with_peft(tmp_path, smollm2_tokenizer):
    _, adapter = _run(tmp_path, smollm2_tokenizer, **{"train.method": "rr", "train.max_steps": 2})
    base = build_tiny_model(seed=0, num_layers=4, hidden_size=64, vocab_size=len(smollm2_tokenizer))
    loaded = PeftModel.from_pretrained(base, str(adapter))
    trained = _adapter_tensors(adapter)
    state = {k: v for k, v in loaded.state_dict().items() if "lora_" in k}
    assert len(state) == len(trained)


def test_random_target_moves_erasure_cosine(tmp_path, smollm2_tokenizer):
    out, _ = _run(
        tmp_path, smollm2_tokenizer,
        **{"train.method": "rr", "train.geometry": "random_target", "train.learning_rate": 1e-2, "train.max_steps": 6},
    )
    rows = _log(out)
    assert rows[0]["erasure_cosine"] > 0.999
    assert rows[-1]["erasure_cosine"] < rows[0]["erasure_cosine"]


@pytest.mark.parametrize("geometry", ["standardised", "masked"])
def test_other_geometries_run(tmp_path, smollm2_tokenizer, geometry):
    out, _ = _run(tmp_path, smollm2_tokenizer, **{"train.method": "rr", "train.geometry": geometry, "train.max_steps": 2,
                                                  "train.lora.init_b_std": 0.01})
    assert all(row["loss_erasure"] > 0 for row in _log(out))


def test_resume_matches_uninterrupted_run(tmp_path, smollm2_tokenizer):
    overrides = {"train.method": "mosr", "train.max_steps": 5, "train.checkpoint_every": 2, "train.lora.dropout": 0.1}
    _, full = _run(tmp_path, smollm2_tokenizer, name="full", **overrides)
    out, _ = _run(tmp_path, smollm2_tokenizer, name="split", stop_after=3, **overrides)
    assert not (out / "adapter").exists()
    _, resumed = _run(tmp_path, smollm2_tokenizer, name="split", resume=True, **overrides)
    expected = _adapter_tensors(full)
    actual = _adapter_tensors(resumed)
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
    assert [row["step"] for row in _log(out)] == [1, 2, 3, 4, 5]


def test_existing_run_needs_resume_flag(tmp_path, smollm2_tokenizer):
    _run(tmp_path, smollm2_tokenizer, name="again", stop_after=1, **{"train.method": "refusal_sft"})
    with pytest.raises(ConfigError, match="--resume"):
        _run(tmp_path, smollm2_tokenizer, name="again", **{"train.method": "refusal_sft"})


def test_resume_with_other_config_fails(tmp_path, smollm2_tokenizer):
    _run(tmp_path, smollm2_tokenizer, name="changed", stop_after=1, **{"train.method": "refusal_sft"})
    with pytest.raises(ConfigError, match="different configuration"):
        _run(tmp_path, smollm2_tokenizer, name="changed", resume=True, **{"train.method": "refusal_sft", "train.learning_rate": 5e-4})


def test_target_layers_out_of_range(tmp_path, smollm2_tokenizer):
    with pytest.raises(ConfigError, match="out of range"):
        _run(tmp_path, smollm2_tokenizer, **{"train.target_layers": [1, 9]})


def test_lora_layers_not_covering_target():
    with pytest.raises(ConfigError, match="do not cover"):
        load_config(None, {"train.target_layers": [2, 3], "train.lora.layers": [3]})


def test_empty_erasure_set(tmp_path, smollm2_tokenizer):
    with pytest.raises(DataError, match="erasure set is empty"):
        _run(tmp_path, smollm2_tokenizer, **{"train.data.malicious": ["malicious_instruct"]})


def test_empty_retain_set(tmp_path, smollm2_tokenizer):
    with pytest.raises(DataError, match="retain set is empty"):
        _run(tmp_path, smollm2_tokenizer, **{"train.data.benign": [], "train.data.pseudo_retain": []})


def test_leak_is_an_error(tmp_path, smollm2_tokenizer, monkeypatch):
    def leaky(name):
        if name == "xstest_safe":
            return train_fakes.records("alpaca_pairs")
        return train_fakes.records(name)

    config = load_config(None, TINY)
    sets = training_data.select_sets(config.train, train_fakes.records)
    with pytest.raises(DataError, match="leak"):
        train_fakes.no_leak(sets.training_records(), {"xstest_safe": leaky("xstest_safe")})
    # The filter drops evaluation prompts before selection, so the same loader gives no leak.
    filtered = training_data.select_sets(config.train, train_fakes.records, eval_loader=leaky)
    assert not filtered.benign


def test_recomputed_frozen_states_match_cache(tmp_path, smollm2_tokenizer):
    overrides = {"train.method": "mosr", "train.max_steps": 2, "train.lora.init_b_std": 0.01}
    cached, _ = _run(tmp_path, smollm2_tokenizer, name="cached", **overrides)
    recomputed, _ = _run(tmp_path, smollm2_tokenizer, name="recomputed", **{**overrides, "train.frozen_states": "recompute"})
    for row_cached, row_recomputed in zip(_log(cached), _log(recomputed)):
        for key in ("loss", "loss_erasure", "loss_retain", "erasure_cosine"):
            assert row_recomputed[key] == pytest.approx(row_cached[key], rel=1e-4, abs=1e-5), key
