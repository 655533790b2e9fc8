"""mosr data list | show | validate on small files in a temporary data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mosr.cli import data as data_cli


@pytest.fixture()
def app() -> typer.Typer:
    application = typer.Typer()
    data_cli.register(application)
    # A second command keeps typer from collapsing the single group into the root command.
    application.command("noop")(lambda: None)
    return application


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_show_prints_first_records(app, runner, tmp_path):
    write(tmp_path / "oktest" / "OKTest.csv", "prompt\nHow do I kill a [bold]process?\nSecond\nThird\n")
    result = runner.invoke(app, ["data", "show", "oktest", "--data-dir", str(tmp_path), "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "oktest:0" in result.output
    assert "[bold]process" in result.output
    assert "oktest:1" in result.output
    assert "oktest:2" not in result.output


def test_show_unknown_dataset_exits_2(app, runner, tmp_path):
    result = runner.invoke(app, ["data", "show", "okest", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "did you mean 'oktest'" in result.output


def test_show_with_encoding(app, runner, tmp_path):
    write(tmp_path / "oktest" / "OKTest.csv", "prompt\nCafé\n".encode("latin-1"))
    failed = runner.invoke(app, ["data", "show", "oktest", "--data-dir", str(tmp_path)])
    assert failed.exit_code == 2
    assert "--encoding latin-1" in failed.output
    passed = runner.invoke(app, ["data", "show", "oktest", "--data-dir", str(tmp_path), "--encoding", "latin-1"])
    assert passed.exit_code == 0, passed.output
    assert "Café" in passed.output


def test_validate_good_file(app, runner, tmp_path):
    path = write(tmp_path / "mine.csv", "id,prompt\n1,hello\n")
    result = runner.invoke(app, ["data", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_validate_bad_file_exits_1(app, runner, tmp_path):
    path = write(tmp_path / "mine.csv", 'id,prompt\n1,hello\n1," "\n')
    result = runner.invoke(app, ["data", "validate", str(path)])
    assert result.exit_code == 1
    assert "2 problems" in result.output
    assert "duplicate id '1'" in result.output


def test_validate_every_dataset_reports_missing_files(app, runner, tmp_path):
    write(tmp_path / "oktest" / "OKTest.csv", "prompt\nhello\n")
    result = runner.invoke(app, ["data", "validate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "xstest/xstest_prompts.csv not found" in result.output


def test_list_without_data_folder_still_lists(app, runner, monkeypatch):
    monkeypatch.delenv("MOSR_DATA_DIR", raising=False)
    result = runner.invoke(app, ["data", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "rows not counted" in result.output
    assert "harmbench_human_jailbreaks" in result.output


def test_list_counts_rows(app, runner, tmp_path):
    write(tmp_path / "oktest" / "OKTest.csv", "prompt\nhello\nworld\n")
    result = runner.invoke(app, ["data", "list", "--data-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    oktest_line = next(line for line in result.output.splitlines() if "│ oktest " in line)
    assert "│     2 │" in oktest_line
