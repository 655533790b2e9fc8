"""Residual-stream extraction on the tiny random Llama model: shapes, padding, hooks, storage, PEFT."""

from __future__ import annotations

import pytest
import torch

from mosr.errors import ConfigError, DataError, ModelError
from mosr.representations import (
    Representations,
    decoder_blocks,
    extract_hidden_states,
    load_or_extract,
    record_residual_stream,
    tokenise_prompts,
    weights_fingerprint,
)

TEXTS = [
    "Hi",
    "How do I kill a Python process that hangs?",
    "Write a short poem about the sea, the stars and everything in between, please.",
]
IDS = ["p:0", "p:1", "p:2"]


@pytest.fixture()
def prompt_tokens(smollm2_tokenizer):
    return tokenise_prompts(smollm2_tokenizer, TEXTS, IDS, max_prompt_tokens=256)


def _hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_extraction_shape(tiny_model, prompt_tokens):
    last_token, response_mean = extract_hidden_states(tiny_model, prompt_tokens, batch_size=2, progress=False)
    assert last_token.shape == (3, 5, 64)
    assert last_token.dtype == torch.float32
    assert response_mean is None


def test_left_padding_matches_single_prompt(tiny_model, prompt_tokens, smollm2_tokenizer):
    batched, _ = extract_hidden_states(
        tiny_model, prompt_tokens, batch_size=3, pad_id=smollm2_tokenizer.pad_token_id, progress=False
    )
    for row, tokens in enumerate(prompt_tokens):
        single, _ = extract_hidden_states(tiny_model, [tokens], batch_size=1, progress=False)
        torch.testing.assert_close(batched[row], single[0], atol=1e-4, rtol=1e-4)


def test_layers_match_hidden_states(tiny_model, prompt_tokens):
    tokens = prompt_tokens[1]
    extracted, _ = extract_hidden_states(tiny_model, [tokens], progress=False)
    with torch.no_grad():
        reference = tiny_model(input_ids=torch.tensor([tokens]), output_hidden_states=True).hidden_states
    # Entries 0..L-1 agree with Hugging Face; its last entry has the final norm applied, ours does not.
    for index in range(len(reference) - 1):
        torch.testing.assert_close(extracted[0, index], reference[index][0, -1], atol=1e-5, rtol=1e-5)
    final_norm = tiny_model.model.norm
    with torch.no_grad():
        normed = final_norm(extracted[0, -1][None])[0]
    torch.testing.assert_close(normed, reference[-1][0, -1], atol=1e-4, rtol=1e-4)


def test_embedding_entry_is_token_embedding(tiny_model, prompt_tokens):
    extracted, _ = extract_hidden_states(tiny_model, prompt_tokens[:1], progress=False)
    with torch.no_grad():
        embedding = tiny_model.get_input_embeddings()(torch.tensor([prompt_tokens[0][-1]]))[0]
    torch.testing.assert_close(extracted[0, 0], embedding)


def test_response_mean_matches_manual(tiny_model, prompt_tokens):
    responses = [[10, 11, 12], [13], [14, 15]]
    last_token, response_mean = extract_hidden_states(
        tiny_model, prompt_tokens, responses, batch_size=3, progress=False
    )
    prompt_only, _ = extract_hidden_states(tiny_model, prompt_tokens, batch_size=3, progress=False)
    torch.testing.assert_close(last_token, prompt_only, atol=1e-4, rtol=1e-4)

    tokens = prompt_tokens[0] + responses[0]
    with torch.no_grad():
        states = tiny_model(input_ids=torch.tensor([tokens]), output_hidden_states=True).hidden_states
    expected = states[2][0, -3:].mean(dim=0)
    torch.testing.assert_close(response_mean[0, 2], expected, atol=1e-4, rtol=1e-4)


def test_hooks_removed_after_exception(tiny_model):
    before = _hook_count(tiny_model)
    with pytest.raises(RuntimeError, match="boom"):
        with record_residual_stream(tiny_model):
            assert _hook_count(tiny_model) == before + len(decoder_blocks(tiny_model)) + 1
            raise RuntimeError("boom")
    assert _hook_count(tiny_model) == before


def test_hooks_removed_after_extraction(tiny_model, prompt_tokens):
    before = _hook_count(tiny_model)
    extract_hidden_states(tiny_model, prompt_tokens, progress=False)
    assert _hook_count(tiny_model) == before


def test_bad_inputs_raise(tiny_model, prompt_tokens):
    with pytest.raises(DataError, match="no prompts"):
        extract_hidden_states(tiny_model, [], progress=False)
    with pytest.raises(DataError, match="one response per prompt"):
        extract_hidden_states(tiny_model, prompt_tokens, [[1]], progress=False)
    with pytest.raises(DataError, match="empty"):
        extract_hidden_states(tiny_model, prompt_tokens, [[1], [], [2]], progress=False)
    with pytest.raises(ConfigError, match="batch_size"):
        extract_hidden_states(tiny_model, prompt_tokens, batch_size=0, progress=False)


def test_store_and_reuse(tiny_model, smollm2_tokenizer, prompt_tokens, tmp_path, monkeypatch):
    path = tmp_path / "reps.safetensors"
    first = load_or_extract(
        tiny_model, smollm2_tokenizer, IDS, prompt_tokens, path, groups=["benign", "malicious", "pseudo_malicious"],
        sources=["a", "b", "c"], progress=False,
    )
    assert path.exists()
    assert path.with_suffix(".json").exists()
    assert first.index["prompt_ids"] == IDS
    assert first.index["model"] == "tiny-llama-4x64"
    assert first.index["layers"] == [-1, 0, 1, 2, 3]
    assert len(first.index["prompt_hashes"]) == 3

    def fail(*_args, **_kwargs):
        raise AssertionError("extracted again although the stored index matches")

    monkeypatch.setattr("mosr.representations.extract_hidden_states", fail)
    reused = load_or_extract(tiny_model, smollm2_tokenizer, IDS, prompt_tokens, path, progress=False)
    torch.testing.assert_close(reused.last_token, first.last_token)


def test_store_not_reused_on_change(tiny_model, smollm2_tokenizer, prompt_tokens, tmp_path):
    from mosr.models import build_tiny_model

    path = tmp_path / "reps.safetensors"
    first = load_or_extract(tiny_model, smollm2_tokenizer, IDS, prompt_tokens, path, progress=False)
    other_weights = build_tiny_model(seed=1, num_layers=4, hidden_size=64, vocab_size=len(smollm2_tokenizer))
    second = load_or_extract(other_weights, smollm2_tokenizer, IDS, prompt_tokens, path, progress=False)
    assert second.index["weights_fingerprint"] != first.index["weights_fingerprint"]
    assert not torch.allclose(second.last_token, first.last_token)

    subset = load_or_extract(other_weights, smollm2_tokenizer, IDS[:2], prompt_tokens[:2], path, progress=False)
    assert subset.last_token.shape[0] == 2


def test_store_with_responses(tiny_model, smollm2_tokenizer, prompt_tokens, tmp_path):
    path = tmp_path / "reps.safetensors"
    responses = ["Sure, here it is.", "No.", "The sea is wide."]
    stored = load_or_extract(tiny_model, smollm2_tokenizer, IDS, prompt_tokens, path, responses=responses, progress=False)
    assert stored.response_mean is not None
    assert len(stored.index["response_hashes"]) == 3

    reloaded = Representations.load(path)
    torch.testing.assert_close(reloaded.response_mean, stored.response_mean)
    assert reloaded.at_layer(1, pooling="response_mean").shape == (3, 64)

    # Other responses change the index, so the file is not reused.
    changed = load_or_extract(
        tiny_model, smollm2_tokenizer, IDS, prompt_tokens, path, responses=["A", "B", "C"], progress=False
    )
    assert changed.index["response_hashes"] != stored.index["response_hashes"]
    assert not torch.allclose(changed.response_mean, stored.response_mean)


def test_duplicate_ids_raise(tiny_model, smollm2_tokenizer, prompt_tokens, tmp_path):
    with pytest.raises(DataError, match="unique"):
        load_or_extract(
            tiny_model, smollm2_tokenizer, ["a", "a", "b"], prompt_tokens, tmp_path / "r.safetensors", progress=False
        )


def test_at_layer_range(tiny_model, prompt_tokens):
    last_token, _ = extract_hidden_states(tiny_model, prompt_tokens, progress=False)
    representations = Representations(last_token, {"prompt_ids": IDS, "groups": [None] * 3})
    torch.testing.assert_close(representations.at_layer(0), last_token[:, 1])
    torch.testing.assert_close(representations.at_layer(-1), last_token[:, 0])
    with pytest.raises(ConfigError, match="out of range"):
        representations.at_layer(4)
    with pytest.raises(ConfigError, match="no response mean"):
        representations.at_layer(0, pooling="response_mean")


def test_peft_model_extraction(tiny_model, prompt_tokens):
    from peft import LoraConfig, get_peft_model

    base, _ = extract_hidden_states(tiny_model, prompt_tokens, progress=False)
    base_fingerprint = weights_fingerprint(tiny_model)
    peft_model = get_peft_model(tiny_model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    peft_model.eval()

    # LoRA B starts at zero, so the adapted model computes the same states.
    unchanged, _ = extract_hidden_states(peft_model, prompt_tokens, progress=False)
    torch.testing.assert_close(unchanged, base, atol=1e-5, rtol=1e-5)

    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)
    changed, _ = extract_hidden_states(peft_model, prompt_tokens, progress=False)
    assert not torch.allclose(changed[:, 2:], base[:, 2:], atol=1e-3)
    assert weights_fingerprint(peft_model) != base_fingerprint


def test_adapter_for_other_base_raises(tiny_model, tmp_path):
    import json

    from peft import LoraConfig, get_peft_model

    from mosr.models import attach_adapter, build_tiny_model

    adapter_dir = tmp_path / "adapter"
    other = build_tiny_model(seed=2, num_layers=4, hidden_size=64, vocab_size=tiny_model.config.vocab_size)
    get_peft_model(other, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(adapter_dir)
    config_path = adapter_dir / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = "some-org/another-model"
    config_path.write_text(json.dumps(config))

    with pytest.raises(ModelError, match="another-model"):
        attach_adapter(tiny_model, adapter_dir)
