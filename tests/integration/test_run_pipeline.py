"""mosr run --budget quick end to end on the real model, interrupted once and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

METHODS = "rr"


def _run_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "mosr", "run", "--budget", "quick", "--methods", METHODS, "--out", str(out),
            "--set", "train.max_steps=2", "--set", "evaluate.limit=4"]


def _default_sigint() -> None:
    """Give the child the default SIGINT disposition, so Python turns Ctrl-C into KeyboardInterrupt.

    A shell starts background jobs with SIGINT ignored, and children inherit that: without this
    reset, pytest launched with ``&`` or ``nohup`` would send a Ctrl-C that nothing receives.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_after_first_stage(out: Path, timeout_s: float = 600) -> None:
    """Start mosr run and send Ctrl-C once the first stage has written its marker."""
    process = subprocess.Popen(_run_command(out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy(),
                               preexec_fn=_default_sigint)
    marker = out / "analysis" / "base" / "stage.json"
    deadline = time.monotonic() + timeout_s
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    assert marker.exists(), "the first stage did not finish in time"
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)


def test_quick_run_resumes_and_reports(data_dir, smollm2, tmp_path):
    out = tmp_path / "run"
    _interrupt_after_first_stage(out)
    first_marker = json.loads((out / "analysis" / "base" / "stage.json").read_text())

    resumed = subprocess.run(_run_command(out), capture_output=True, text=True, timeout=2400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "skipped analysis: base" in resumed.stderr + resumed.stdout
    assert json.loads((out / "analysis" / "base" / "stage.json").read_text()) == first_marker

    report = (out / "report.md").read_text()
    assert "| metric | base | rr |" in report
    assert (out / "tradeoff.png").exists()
    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]) == {"base", "rr"}

    again = subprocess.run(_run_command(out), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    stage_lines = [line.strip() for line in (again.stderr + again.stdout).splitlines()]
    assert not [line for line in stage_lines if line.startswith("done ")]
    assert len([line for line in stage_lines if line.startswith("skipped ")]) == 6
    assert json.loads((out / "results.json").read_text())["methods"] == results["methods"]
