"""mosr generate on the real model and real XSTest prompts."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mosr.cli import app

pytestmark = pytest.mark.integration


def _generate(out, *extra):
    return CliRunner().invoke(app, [
        "generate", "--model", "smollm2-135m", "--dataset", "xstest", "--out", str(out),
        "--max-new-tokens", "8", *extra,
    ])


def test_generate_writes_responses_and_resumes(data_dir, smollm2, tmp_path):
    out = tmp_path / "gen.jsonl"
    first = _generate(out, "--limit", "3")
    assert first.exit_code == 0, first.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    assert all(row["response"].strip() for row in rows)
    assert {row["model"] for row in rows} == {"smollm2-135m"}

    second = _generate(out, "--limit", "3")
    assert second.exit_code == 0, second.output
    assert "already in" in second.output
    assert len(out.read_text().splitlines()) == 3


def test_generate_unknown_dataset_is_clear_error(data_dir, tmp_path):
    result = _generate(tmp_path / "gen.jsonl", "--dataset", "xstset")
    assert result.exit_code == 2
    assert "xstset" in result.output


def test_generate_unwritable_output_is_clear_error(data_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = _generate(blocker / "gen.jsonl", "--limit", "1")
    assert result.exit_code == 2
    assert "not writable" in result.output


def test_generate_long_prompt_rejected_on_request(data_dir, tmp_path):
    result = _generate(tmp_path / "gen.jsonl", "--limit", "2", "--set", "model.max_prompt_tokens=16",
                       "--on-long-prompt", "error")
    assert result.exit_code == 2
    assert "max_prompt_tokens=16" in result.output
