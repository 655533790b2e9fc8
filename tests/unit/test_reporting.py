"""Report tables, target checks and plots from synthetic evaluation results."""

from __future__ import annotations

import json

from mosr.reporting import check_targets, flatten_results, headline_metrics, write_report


def _rate(value: float, n: int = 100) -> dict:
    return {"rate": value, "ci95": [max(0.0, value - 0.05), min(1.0, value + 0.05)], "n": n, "count": int(value * n)}


def _results(over_refusal: float, asr_direct: float, asr_prefill: float, accuracy: float) -> dict:
    return {
        "suite": "quick",
        "over_refusal": {"xstest_safe": {"attacks": {"direct": {"over_refusal": _rate(over_refusal)}}}},
        "safety": {"harmbench_test": {"attacks": {
            "direct": {"asr": _rate(asr_direct)}, "prefill": {"asr": _rate(asr_prefill)},
        }}},
        "capability": {
            "multiple_choice": {"arc_easy": {"acc": _rate(accuracy)}},
            "reference_nll": {"alpaca_pairs": {"delta_vs_base": {"mean": 0.1, "ci95": [0.0, 0.2], "n": 30}}},
        },
    }


def _write_run(tmp_path, methods: dict) -> None:
    for method, results in methods.items():
        folder = tmp_path / "evaluate" / method
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(results))


def test_flatten_names_every_metric():
    rows = flatten_results(_results(0.1, 0.8, 0.9, 0.5))
    names = [row["metric"] for row in rows]
    assert names == [
        "over_refusal/xstest_safe", "asr/harmbench_test/direct", "asr/harmbench_test/prefill",
        "accuracy/arc_easy", "nll_delta/alpaca_pairs",
    ]


def test_targets_hold_for_selective_defence():
    table = {
        "base": flatten_results(_results(0.10, 0.80, 0.90, 0.50)),
        "rr": flatten_results(_results(0.50, 0.05, 0.06, 0.49)),
        "mosr": flatten_results(_results(0.15, 0.06, 0.08, 0.495)),
    }
    checks = check_targets(table)
    assert len(checks) == 4
    assert all(check["holds"] for check in checks), checks


def test_targets_fail_when_mosr_over_refuses():
    table = {
        "base": flatten_results(_results(0.10, 0.80, 0.90, 0.50)),
        "rr": flatten_results(_results(0.30, 0.05, 0.06, 0.50)),
        "mosr": flatten_results(_results(0.35, 0.05, 0.06, 0.50)),
    }
    over_refusal = [c for c in check_targets(table) if "over-refusal" in c["target"]][0]
    assert over_refusal["holds"] is False


def test_report_writes_table_csv_and_plot(tmp_path):
    _write_run(tmp_path, {
        "base": _results(0.10, 0.80, 0.90, 0.50),
        "rr": _results(0.50, 0.05, 0.06, 0.49),
        "mosr": _results(0.15, 0.06, 0.08, 0.495),
    })
    report = write_report(tmp_path)
    text = report.read_text()
    assert "| metric | base | rr | mosr |" in text
    assert "0.15 [0.10, 0.20]" in text
    assert (tmp_path / "tradeoff.png").stat().st_size > 1000
    csv_lines = (tmp_path / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 3 * 5


def test_headline_metrics_reads_results(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_results(0.2, 0.3, 0.4, 0.5)))
    metrics = headline_metrics(path)
    assert metrics["over_refusal_xstest_safe"] == 0.2
    assert metrics["asr_direct"] == 0.3
    assert metrics["asr_prefill"] == 0.4
    assert metrics["capability_accuracy"] == 0.5


def test_analysis_summary_formats_best_layer():
    from mosr.reporting import _analysis_summary

    text = _analysis_summary({"best_layer": {"layer": 14, "probe_accuracy": 0.99166, "boundary_position": -0.3267,
                                             "refusal_auroc": 0.4695}})
    assert "Best-separating layer: 14 (probe held-out accuracy 0.992)" in text
    assert "b = -0.33" in text
    assert "refusal AUROC of the projection 0.47" in text
    assert "{" not in text
