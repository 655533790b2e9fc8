"""Model loading, chat rendering and prompt-length handling."""

from __future__ import annotations

import json

import pytest
import torch

from mosr import models
from mosr.errors import ModelError, PromptTooLongError
from mosr.models import GgufAlias, check_single_bos, fit_prompt, load_model, render_chat


def test_unknown_model_name_lists_aliases():
    with pytest.raises(ModelError, match="unknown model 'no-such-model'.*smollm2-135m"):
        load_model("no-such-model")


def test_missing_alias_package_gives_install_hint(monkeypatch):
    fake = GgufAlias(
        name="fake", distributions=("mosr-no-such-distribution",), file_pattern="x.gguf",
        install_hint="pip install mosr-no-such-distribution",
    )
    monkeypatch.setitem(models.ALIASES, "fake", fake)
    with pytest.raises(ModelError, match="not installed; install it with: pip install mosr-no-such-distribution"):
        load_model("fake")


def test_hub_id_offline_is_clear_error():
    with pytest.raises(ModelError, match="Hub cannot be reached"):
        load_model("no-such-org/no-such-model")


def test_remote_code_model_needs_explicit_trust(tmp_path):
    config = {
        "model_type": "mosr_custom_arch",
        "auto_map": {"AutoConfig": "configuration_x.XConfig", "AutoModelForCausalLM": "modeling_x.XModel"},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="--trust-remote-code"):
        load_model(str(tmp_path))


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        load_model(str(tmp_path))


def test_gguf_alias_loads_without_quantizer_marker(smollm2, tmp_path):
    model, _ = smollm2
    assert getattr(model, "hf_quantizer", None) is None
    assert not hasattr(model.config, "quantization_config")
    model.save_pretrained(tmp_path / "copy")  # refused while the GGUF marker is set
    assert (tmp_path / "copy" / "model.safetensors").exists()


def test_alias_is_cached_as_safetensors(smollm2):
    folder = models.materialise_alias("smollm2-135m")
    assert (folder / "model.safetensors").exists()
    assert (folder / "tokenizer_config.json").exists()


def test_rendered_prompt_has_single_bos(smollm2_tokenizer):
    ids = fit_prompt(smollm2_tokenizer, "How do I kill a Python process?", 512)
    rendered = smollm2_tokenizer.decode(ids)
    assert rendered == render_chat(smollm2_tokenizer, "How do I kill a Python process?")
    assert ids[0] == smollm2_tokenizer.bos_token_id
    assert ids[1] != smollm2_tokenizer.bos_token_id


def test_double_bos_is_rejected(smollm2_tokenizer):
    bos = smollm2_tokenizer.bos_token_id
    with pytest.raises(ValueError, match="two BOS"):
        check_single_bos(smollm2_tokenizer, [bos, bos, 5])


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_prompt_is_rejected(smollm2_tokenizer, text):
    with pytest.raises(ValueError, match="empty or whitespace-only prompt"):
        fit_prompt(smollm2_tokenizer, text, 512)


def test_long_prompt_truncated_keeps_end(smollm2_tokenizer, caplog):
    text = "word " * 400 + "FINAL QUESTION?"
    ids = fit_prompt(smollm2_tokenizer, text, 128, "truncate", prompt_id="p1")
    assert len(ids) <= 130
    assert "FINAL QUESTION?" in smollm2_tokenizer.decode(ids)
    assert "truncated" in caplog.text


def test_long_prompt_rejected_on_request(smollm2_tokenizer):
    with pytest.raises(PromptTooLongError, match="prompt 'p1' has .* tokens, more than max_prompt_tokens=64"):
        fit_prompt(smollm2_tokenizer, "word " * 200, 64, "error", prompt_id="p1")


def test_prefill_is_appended_to_assistant_turn(smollm2_tokenizer):
    rendered = render_chat(smollm2_tokenizer, "Say hi", assistant_prefill="Sure, here is")
    assert rendered.endswith("<|im_start|>assistant\nSure, here is")


def test_adapter_for_other_base_model_is_rejected(tiny_model, tmp_path):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(tiny_model, LoraConfig(r=2, target_modules=["q_proj"]))
    peft_model.peft_config["default"].base_model_name_or_path = "some-other-model"
    peft_model.save_pretrained(tmp_path / "adapter")

    from mosr.models import build_tiny_model

    other = build_tiny_model(seed=1, vocab_size=tiny_model.config.vocab_size)
    with pytest.raises(ModelError, match="trained on base model 'some-other-model'"):
        models.attach_adapter(other, tmp_path / "adapter")


def test_adapter_with_wrong_shapes_is_rejected(tiny_model, tmp_path):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(tiny_model, LoraConfig(r=2, target_modules=["q_proj"]))
    peft_model.peft_config["default"].base_model_name_or_path = None
    peft_model.save_pretrained(tmp_path / "adapter")

    from mosr.models import build_tiny_model

    wider = build_tiny_model(seed=1, hidden_size=128, vocab_size=tiny_model.config.vocab_size)
    with pytest.raises(ModelError, match="does not fit model"):
        models.attach_adapter(wider, tmp_path / "adapter")


def test_tiny_model_is_llama_architecture(tiny_model):
    assert tiny_model.config.model_type == "llama"
    out = tiny_model(torch.tensor([[1, 2, 3]]), output_hidden_states=True)
    assert len(out.hidden_states) == tiny_model.config.num_hidden_layers + 1
