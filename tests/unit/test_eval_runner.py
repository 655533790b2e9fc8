"""evaluate_model on the tiny random model: outputs, resume after an interruption, bad input."""

from __future__ import annotations

import csv
import json

import pytest
import torch
import yaml
from typer.testing import CliRunner

from mosr.data.records import MultipleChoiceRecord, PromptRecord
from mosr.errors import ConfigError
from mosr.evaluation import runner
from mosr.evaluation.config import EvalConfig
from mosr.evaluation.suites import get_suite

PROMPTS = {
    "benign_set": [
        PromptRecord(id=f"benign_set:{i}", source="benign_set", text=f"Tell me a fact about the number {i}.", group="benign")
        for i in range(5)
    ],
    "harm_set": [
        PromptRecord(id=f"harm_set:{i}", source="harm_set", text=f"Explain harmful thing number {i}.",
                     group="malicious", target=f"Sure, here is harmful thing {i}")
        for i in range(4)
    ],
    "pairs_set": [
        PromptRecord(id=f"pairs_set:{i}", source="pairs_set", text=f"Say hello {i} times.", group="benign",
                     reference="Hello! " * (i + 1))
        for i in range(3)
    ],
    "mc_set": [
        MultipleChoiceRecord(id=f"mc_set:{i}", source="mc_set", question=f"What is {i} plus one?",
                             choices=[str(i + 1), str(i + 2), "blue"], answer=0)
        for i in range(4)
    ],
}


def fake_load_records(name, data_dir=None, encoding=None, limit=None, seed=0):
    records = PROMPTS[name]
    return records[:limit] if limit else list(records)


@pytest.fixture()
def suite_file(tmp_path):
    suite = {
        "name": "unit",
        "description": "tiny suite for unit tests",
        "max_new_tokens": 4,
        "tasks": [
            {"dataset": "benign_set", "kind": "over_refusal"},
            {"dataset": "harm_set", "kind": "safety", "attacks": ["direct", "prefill"]},
            {"dataset": "mc_set", "kind": "multiple_choice"},
            {"dataset": "pairs_set", "kind": "reference_nll"},
        ],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return str(path)


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    monkeypatch.setattr(runner, "load_records", fake_load_records)


def read_rows(folder):
    with (folder / "judgements.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_evaluate_writes_all_outputs(tiny_model, smollm2_tokenizer, suite_file, tmp_path):
    # batch_size 1: every prompt is generated alone, so outputs cannot depend on batch padding.
    config = EvalConfig(suite_file=suite_file, batch_size=1)
    results = runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "results.json").exists()
    assert (out / "results.md").exists()
    rows = read_rows(out)
    assert len(rows) == 5 + 4 + 4
    assert json.loads((out / "results.json").read_text())["generation"]["max_new_tokens"] == 4

    benign = results["over_refusal"]["benign_set"]
    assert benign["prompt_ids"] == [f"benign_set:{i}" for i in range(5)]
    assert benign["attacks"]["direct"]["over_refusal"]["n"] == 5
    safety = results["safety"]["harm_set"]["attacks"]
    assert set(safety) == {"direct", "prefill"}
    assert safety["prefill"]["asr"]["ids"] == [f"harm_set:{i}" for i in range(4)]

    prefill_rows = [r for r in rows if r["attack"] == "prefill"]
    for row in prefill_rows:
        assert row["response"].startswith(row["prefill"])
    assert results["capability"]["multiple_choice"]["mc_set"]["acc"]["n"] == 4
    nll = results["capability"]["reference_nll"]["pairs_set"]
    assert nll["delta_vs_base"]["mean"] == 0.0
    assert set(nll["per_id"]) == {"pairs_set:0", "pairs_set:1", "pairs_set:2"}


def test_resume_after_interrupt_matches_clean_run(tiny_model, smollm2_tokenizer, suite_file, tmp_path, monkeypatch):
    config = EvalConfig(suite_file=suite_file, batch_size=1, capability=False)
    runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "clean")

    real_generate = runner.generate_detailed
    calls = {"batches": 0}

    def interrupted_generate(model, tokenizer, prompt_ids, max_new_tokens, batch_size, on_batch_done=None, **kwargs):
        def store_then_stop(indices, generations):
            on_batch_done(indices, generations)
            calls["batches"] += 1
            if calls["batches"] == 3:
                raise KeyboardInterrupt

        return real_generate(model, tokenizer, prompt_ids, max_new_tokens, batch_size, on_batch_done=store_then_stop, **kwargs)

    monkeypatch.setattr(runner, "generate_detailed", interrupted_generate)
    with pytest.raises(KeyboardInterrupt):
        runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "resumed")
    cache_file = tmp_path / "resumed" / "generations.jsonl"
    assert len(cache_file.read_text().splitlines()) == 3
    with cache_file.open("a") as handle:
        handle.write('{"key": "torn-by-cra')  # a crash in the middle of a write

    monkeypatch.setattr(runner, "generate_detailed", real_generate)
    resumed = runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "resumed")

    keys = [json.loads(line)["key"] for line in cache_file.read_text().splitlines()]
    assert len(keys) == 13
    assert len(set(keys)) == 13
    assert resumed["cache"]["torn_lines_skipped"] == 1
    clean_rows = read_rows(tmp_path / "clean")
    resumed_rows = read_rows(tmp_path / "resumed")
    assert [(r["case_id"], r["label"], r["response"]) for r in resumed_rows] == [
        (r["case_id"], r["label"], r["response"]) for r in clean_rows
    ]


def test_second_run_generates_nothing(tiny_model, smollm2_tokenizer, suite_file, tmp_path, monkeypatch):
    config = EvalConfig(suite_file=suite_file, batch_size=1, capability=False)
    first = runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "out")

    def fail(*args, **kwargs):
        raise AssertionError("generation should come from the cache")

    monkeypatch.setattr(runner, "generate_detailed", fail)
    second = runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "out")
    assert second["safety"] == first["safety"]


def test_other_dtype_misses_cache(smollm2_tokenizer, suite_file, tmp_path, monkeypatch):
    from mosr.models import build_tiny_model

    def model(dtype):
        built = build_tiny_model(seed=0, num_layers=2, hidden_size=64, vocab_size=len(smollm2_tokenizer)).to(dtype)
        built.mosr_name = "tiny"
        return built

    config = EvalConfig(suite_file=suite_file, batch_size=1, capability=False)
    runner.evaluate_model(model(torch.float32), smollm2_tokenizer, config, tmp_path / "out")
    calls = []
    original = runner.generate_detailed

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "generate_detailed", counting)
    runner.evaluate_model(model(torch.float32), smollm2_tokenizer, config, tmp_path / "out")
    assert not calls
    runner.evaluate_model(model(torch.bfloat16), smollm2_tokenizer, config, tmp_path / "out")
    assert calls


def test_limit_override_caps_prompts(tiny_model, smollm2_tokenizer, suite_file, tmp_path):
    config = EvalConfig(suite_file=suite_file, batch_size=4, limit=2, capability=False)
    results = runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "out")
    assert results["over_refusal"]["benign_set"]["n_prompts"] == 2
    assert results["over_refusal"]["benign_set"]["limit"] == 2


def test_unknown_attack_in_config_is_clear_error(tiny_model, smollm2_tokenizer, suite_file, tmp_path):
    config = EvalConfig(suite_file=suite_file, attacks=["direct", "psychic"])
    with pytest.raises(ConfigError, match="unknown attack 'psychic'"):
        runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "out")


def test_unknown_judge_in_config_is_clear_error(tiny_model, smollm2_tokenizer, suite_file, tmp_path):
    config = EvalConfig(suite_file=suite_file, judge="oracle")
    with pytest.raises(ConfigError, match="unknown judge 'oracle'"):
        runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "out")


def test_unknown_suite_is_clear_error():
    with pytest.raises(ConfigError, match="unknown suite 'huge'; choose one of quick, default, full"):
        get_suite("huge")


def test_suite_file_with_bad_kind_is_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "description": "y", "tasks": [{"dataset": "d", "kind": "vibes"}]}))
    with pytest.raises(ConfigError, match="invalid suite file"):
        runner.resolve_suite(EvalConfig(suite_file=str(path)))


def test_cli_unknown_suite_exits_with_message():
    from mosr.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--suite", "huge", "--out", "/tmp/mosr-never-written"])
    assert result.exit_code == 2
    assert "evaluate.suite" in result.output
    assert "huge" in result.output


def test_builtin_suites_record_token_budget():
    assert get_suite("quick").max_new_tokens == 64
    assert get_suite("default").max_new_tokens == 96
    assert get_suite("full").max_new_tokens == 256


def test_perplexity_threshold_marks_degenerate(tiny_model, smollm2_tokenizer, suite_file, tmp_path):
    # A random model's responses have perplexity in the thousands under itself, far above 1.5.
    config = EvalConfig(suite_file=suite_file, limit=2, capability=False, perplexity_check=True, perplexity_threshold=1.5)
    runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "out")
    rows = read_rows(tmp_path / "out")
    scored = [r for r in rows if r["base_perplexity"]]
    assert scored
    for row in scored:
        assert float(row["base_perplexity"]) > 1.5
        assert row["label"] == "degenerate"


def test_capability_scores_come_from_cache(tiny_model, smollm2_tokenizer, suite_file, tmp_path, monkeypatch):
    config = EvalConfig(suite_file=suite_file, limit=2)
    first = runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "out")

    def fail(*args, **kwargs):
        raise AssertionError("scores should come from the cache")

    monkeypatch.setattr(runner, "score_multiple_choice", fail)
    monkeypatch.setattr(runner, "reference_nll", fail)
    second = runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "out")
    assert second["capability"] == first["capability"]
    assert runner.reference_nll_values(second) == first["capability"]["reference_nll"]["pairs_set"]["per_id"]


def test_vllm_backend_without_package_is_clear_error(tiny_model, smollm2_tokenizer, suite_file, tmp_path):
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed")
    from mosr.errors import MosrError

    config = EvalConfig(suite_file=suite_file, backend="vllm")
    with pytest.raises(MosrError, match=r"pip install 'mosr\[vllm\]'"):
        runner.evaluate_model(tiny_model, smollm2_tokenizer, config, tmp_path / "out")


def test_adapter_fingerprint_changes_with_weights(tiny_model):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_model, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    before = runner.adapter_fingerprint(model)
    assert before == runner.adapter_fingerprint(model)
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if "lora_B" in n).add_(1.0)
    assert runner.adapter_fingerprint(model) != before


def test_default_suite_subset_has_own_key():
    tasks = get_suite("default").tasks
    keys = [(task.kind, task.key) for task in tasks]
    assert len(keys) == len(set(keys))
    assert ("safety", "harmbench_test_50") in keys


def test_runner_merges_adapter_while_generating(tiny_model, smollm2_tokenizer, suite_file, tmp_path, monkeypatch):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    seen = []
    original = runner.generate_detailed

    def recording(model, *args, **kwargs):
        seen.append(any(getattr(m, "merged", False) for m in model.modules()))
        return original(model, *args, **kwargs)

    monkeypatch.setattr(runner, "generate_detailed", recording)
    runner.evaluate_model(model, smollm2_tokenizer, EvalConfig(suite_file=suite_file, capability=False), tmp_path / "merged")
    assert seen
    assert all(seen)
    assert not any(getattr(m, "merged", False) for m in model.modules())
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name

    seen.clear()
    config = EvalConfig(suite_file=suite_file, capability=False, merge_adapter=False)
    runner.evaluate_model(model, smollm2_tokenizer, config, tmp_path / "merged")
    assert seen  # the unmerged model has its own cache keys, so it generated again
    assert not any(seen)
