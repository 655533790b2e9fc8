"""CLI entry point: mosr analyze (where pseudo-malicious prompts sit between benign and malicious ones)."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from mosr.cli.common import (
    ADAPTER_OPTION,
    CONFIG_OPTION,
    DATA_DIR_OPTION,
    DEVICE_OPTION,
    DTYPE_OPTION,
    MODEL_OPTION,
    SET_OPTION,
    build_config,
    console,
    ensure_writable_dir,
    handle_errors,
    require_data_dir,
    setup_logging,
)
from mosr.errors import ConfigError


_LAYER_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_layers(values: list[str] | None) -> list[int] | None:
    """Parse ``--layers`` values: integers, comma-separated lists and inclusive ranges such as ``5-10``."""
    if not values:
        return None
    layers: list[int] = []
    for value in values:
        for part in (item.strip() for item in value.split(",")):
            if not part:
                continue
            match = _LAYER_RANGE.match(part)
            if match and int(match.group(1)) <= int(match.group(2)):
                layers.extend(range(int(match.group(1)), int(match.group(2)) + 1))
                continue
            try:
                layers.append(int(part))
            except ValueError:
                raise ConfigError(
                    f"invalid --layers value {part!r}: give layer numbers, comma-separated lists or ascending "
                    "ranges such as 5-10 (layer l is the output of decoder block l)"
                ) from None
    return layers


def analyze_command(
    model: str = MODEL_OPTION,
    adapter: str = ADAPTER_OPTION,
    benign: list[str] = typer.Option(None, "--benign", help="Benign dataset; repeat for several (default alpaca_eval)."),
    malicious: list[str] = typer.Option(
        None, "--malicious", help="Malicious dataset; repeat for several (default advbench, harmbench_val)."
    ),
    pseudo: list[str] = typer.Option(
        None, "--pseudo", help="Pseudo-malicious dataset; repeat for several (default xstest_safe, oktest, phtest_harmless)."
    ),
    limit: int = typer.Option(None, "--limit", "-n", min=2, help="Prompts per group, split across its datasets."),
    layers: list[str] = typer.Option(
        None, "--layers", help="Layers to analyse: numbers, lists or ranges (10,20 or 5-15); default all."
    ),
    behaviour_limit: int = typer.Option(
        None, "--behaviour-limit", min=0, help="Pseudo-malicious prompts answered and judged; 0 skips generation."
    ),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Prompts per forward pass."),
    dtype: str = DTYPE_OPTION,
    device: str = DEVICE_OPTION,
    out: Path = typer.Option(Path("runs/analysis"), "--out", "-o", help="Output folder."),
    data_dir: str = DATA_DIR_OPTION,
    config: str = CONFIG_OPTION,
    set_options: list[str] = SET_OPTION,
) -> None:
    """Measure where pseudo-malicious prompts sit on each layer's safety direction, and whether it predicts refusal."""
    from mosr.analysis import run_analysis

    setup_logging()
    cfg = build_config(
        config, set_options,
        model__name=model, model__adapter=adapter, model__dtype=dtype, model__device=device,
        data__data_dir=data_dir,
        analysis__benign=benign or None, analysis__malicious=malicious or None, analysis__pseudo=pseudo or None,
        analysis__limit=limit, analysis__layers=parse_layers(layers),
        analysis__behaviour_limit=behaviour_limit, analysis__batch_size=batch_size,
    )
    require_data_dir(cfg)
    ensure_writable_dir(out)
    analysis = run_analysis(cfg, out_dir=out)

    best = analysis["best_layer"]
    console.print(
        f"best layer {best['layer']}: probe accuracy {best['probe_accuracy']:.3f}, "
        f"boundary position {best['boundary_position']:.3f}"
        if best["boundary_position"] is not None
        else f"best layer {best['layer']}: probe accuracy {best['probe_accuracy']:.3f}"
    )
    behaviour = analysis.get("behaviour")
    if behaviour:
        auroc = best["refusal_auroc"]
        console.print(
            f"pseudo-malicious refusal rate {behaviour['refusal_rate']:.3f} over {behaviour['n']} prompts; "
            f"refusal AUROC at the best layer: {'undefined' if auroc is None else f'{auroc:.3f}'}"
        )
    console.print(f"wrote {out / 'analysis.json'}, {out / 'summary.md'} and {len(analysis['plots'])} plots")


def register(app: typer.Typer) -> None:
    """Add ``mosr analyze`` to the main app."""
    app.command("analyze")(handle_errors(analyze_command))
