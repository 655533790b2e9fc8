"""Grid sweeps of training settings: train and quick-evaluate every point, then tabulate and plot.

A grid file is YAML::

    preset: smollm2-135m          # config preset the points start from
    fixed:                        # overrides shared by every point (dotted keys)
      train.method: rr
      evaluate.suite: quick
    grid:                         # every combination of these values is one point
      train.geometry: [plain, random_target]
      train.retain_ratio: [5, 10, 20]

Each point trains into ``<out>/<point>/train`` and evaluates into ``<out>/<point>/evaluate``;
both stages resume like ``mosr run``. The table (``sweep.csv``, ``sweep.md``) and the Pareto
plot of over-refusal against attack success rate are rewritten after every point.
"""

from __future__ import annotations

import csv
import itertools
import logging
from pathlib import Path
from typing import Any

import yaml

from mosr.config import load_config
from mosr.errors import ConfigError
from mosr.stages import StageRunner, settings_hash

logger = logging.getLogger(__name__)


def read_grid(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"grid file {path} not found")
    try:
        grid = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"malformed YAML in grid file {path}: {error}") from None
    if not isinstance(grid.get("grid"), dict) or not grid["grid"]:
        raise ConfigError(f"grid file {path} needs a non-empty 'grid' mapping of dotted keys to lists of values")
    for key, values in grid["grid"].items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid entry {key!r} in {path} must be a non-empty list, got {values!r}")
    return grid


def grid_points(grid: dict[str, Any]) -> list[dict[str, Any]]:
    """Expand the grid into every combination of its values, each merged over the fixed overrides."""
    keys = list(grid["grid"])
    points = []
    for values in itertools.product(*(grid["grid"][k] for k in keys)):
        point = dict(grid.get("fixed") or {})
        point.update(dict(zip(keys, values)))
        points.append(point)
    return points


def point_name(point: dict[str, Any], swept_keys: list[str]) -> str:
    parts = [f"{key.split('.')[-1]}={point[key]}" for key in swept_keys]
    readable = "_".join(parts).replace("/", "-").replace(" ", "")[:80]
    return f"{readable}_{settings_hash(point)[:6]}"


def run_sweep(grid_path: Path, out_dir: Path, preset: str | None = None, data_dir: str | None = None) -> Path:
    """Run every grid point (skipping finished ones) and return the path of the table."""
    from mosr.pipeline import evaluate_stage, train_stage
    from mosr.reporting import headline_metrics, plot_pareto

    grid = read_grid(grid_path)
    swept_keys = list(grid["grid"])
    points = grid_points(grid)
    rows: list[dict[str, Any]] = []
    runner = StageRunner()

    for index, point in enumerate(points, start=1):
        overrides = dict(point)
        if data_dir:
            overrides["data.data_dir"] = data_dir
        config = load_config(preset or grid.get("preset") or "smollm2-135m", overrides)
        folder = out_dir / point_name(point, swept_keys)
        logger.info("sweep point %d/%d: %s", index, len(points), folder.name)

        dumped = config.model_dump(mode="json")
        runner.run("train", folder / "train", {k: dumped[k] for k in ("model", "data", "train")},
                   lambda cfg=config, folder=folder: train_stage(cfg, folder / "train"))

        runner.run("evaluate", folder / "evaluate", {k: dumped[k] for k in ("model", "data", "train", "evaluate")},
                   lambda cfg=config, folder=folder: evaluate_stage(cfg, folder / "train" / "adapter", folder / "evaluate", None))

        metrics = headline_metrics(folder / "evaluate" / "results.json")
        rows.append({"point": folder.name, **{k: point[k] for k in swept_keys}, **metrics})
        _write_table(rows, out_dir)
        plot_pareto(rows, out_dir / "pareto.png")

    return out_dir / "sweep.md"


def _write_table(rows: list[dict[str, Any]], out_dir: Path) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with (out_dir / "sweep.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    (out_dir / "sweep.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
