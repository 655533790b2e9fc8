"""Commands that read benchmarks fail on a missing data folder before they load a model."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mosr.cli import app


def _fail_if_called(*args, **kwargs):
    raise AssertionError("a model load or pipeline stage started before the data folder check")


@pytest.fixture()
def no_model_loading(monkeypatch):
    import mosr.analysis
    import mosr.models
    import mosr.pipeline
    import mosr.training.trainer

    monkeypatch.setattr(mosr.models, "load_model_from_config", _fail_if_called)
    monkeypatch.setattr(mosr.pipeline, "run_pipeline", _fail_if_called)
    monkeypatch.setattr(mosr.analysis, "run_analysis", _fail_if_called)
    monkeypatch.setattr(mosr.training.trainer, "train", _fail_if_called)
    monkeypatch.delenv("MOSR_DATA_DIR", raising=False)


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--budget", "quick"],
        ["analyze", "--model", "smollm2-135m"],
        ["train", "--method", "mosr"],
        ["evaluate", "--model", "smollm2-135m"],
    ],
)
def test_missing_data_dir_fails_early(command, no_model_loading, tmp_path):
    result = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "out")])

    assert result.exit_code == 2, result.output
    assert "no data folder given" in result.output
    assert "MOSR_DATA_DIR" in result.output


def test_nonexistent_data_dir_is_named(no_model_loading, tmp_path):
    missing = tmp_path / "nowhere"
    arguments = ["run", "--budget", "quick", "--out", str(tmp_path / "out"), "--data-dir", str(missing)]
    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 2, result.output
    assert str(missing) in result.output
    assert "does not exist" in result.output
