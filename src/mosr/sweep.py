"""Grid sweeps of training settings: train and quick-evaluate every point, then tabulate and plot.

A grid file is YAML::

    preset: smollm2-135m          # config preset the points start from
    evaluate_on: validation       # or "suite": the evaluation suite in evaluate.suite
    fixed:                        # overrides shared by every point (dotted keys)
      train.method: rr
    grid:                         # every combination of these values is one point
      train.geometry: [plain, random_target]
      train.retain_ratio: [5, 10, 20]

Each point trains into ``<out>/<point>/train`` and is judged into ``<out>/<point>/evaluate``;
both stages resume like ``mosr run``. By default a point is judged on the training run's own
held-out validation prompts (harmful and pseudo-malicious prompts from the training sources,
never evaluation prompts), because a sweep chooses settings and settings chosen on evaluation
prompts overstate how well they work. ``evaluate_on: suite`` runs the evaluation suite instead,
for comparing settings already chosen. The table (``sweep.csv``, ``sweep.md``) and the Pareto
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

EVALUATE_ON = ("validation", "suite")

# Validation checks generate this many tokens per response: enough for the refusal judge, which
# reads the start of a response, and cheap enough for many grid points.
VALIDATION_NEW_TOKENS = 40


def read_grid(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"grid file {path} not found")
    try:
        grid = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"malformed YAML in grid file {path}: {error}") from None
    if not isinstance(grid.get("grid"), dict) or not grid["grid"]:
        raise ConfigError(f"grid file {path} needs a non-empty 'grid' mapping of dotted keys to lists of values")
    if grid.get("evaluate_on", "validation") not in EVALUATE_ON:
        raise ConfigError(f"invalid evaluate_on in {path}: {grid['evaluate_on']!r}; use one of {list(EVALUATE_ON)}")
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

        if grid.get("evaluate_on", "validation") == "suite":
            runner.run("evaluate", folder / "evaluate", {k: dumped[k] for k in ("model", "data", "train", "evaluate")},
                       lambda cfg=config, folder=folder: evaluate_stage(cfg, folder / "train" / "adapter", folder / "evaluate", None))
            metrics = headline_metrics(folder / "evaluate" / "results.json")
        else:
            runner.run("validate", folder / "evaluate", {k: dumped[k] for k in ("model", "data", "train")} | {"tokens": VALIDATION_NEW_TOKENS},
                       lambda cfg=config, folder=folder: validation_stage(cfg, folder / "train", folder / "evaluate"))
            metrics = validation_metrics(folder / "evaluate" / "validation.json")
        rows.append({"point": folder.name, **{k: point[k] for k in swept_keys}, **metrics})
        _write_table(rows, out_dir)
        if grid.get("evaluate_on", "validation") == "suite":
            plot_pareto(rows, out_dir / "pareto.png")
        else:
            plot_pareto(rows, out_dir / "pareto.png", x_key="over_refusal_validation", y_key="asr_validation",
                        x_label="over-refusal rate, held-out pseudo-malicious validation prompts",
                        y_label="ASR, held-out harmful validation prompts")

    return out_dir / "sweep.md"


def validation_stage(config, train_dir: Path, out_dir: Path) -> Path:
    """Judge the trained adapter's responses to the run's held-out validation prompts."""
    import json

    from mosr.models import load_model_from_config
    from mosr.training.behaviour import behaviour_check

    model, tokenizer = load_model_from_config(config.model, str(train_dir / "adapter"))
    report = behaviour_check(model, tokenizer, train_dir / "splits.json", max_new_tokens=VALIDATION_NEW_TOKENS,
                             system_prompt=config.model.system_prompt)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "validation.json"
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return path


def validation_metrics(path: Path) -> dict[str, float | None]:
    """Return sweep-row metrics from a validation report: harmful ASR and pseudo-malicious over-refusal.

    Over-refusal counts refusal, partial and degenerate responses, as the evaluation does.
    """
    import json

    groups = json.loads(Path(path).read_text(encoding="utf-8"))["groups"]

    def rate(group: str, labels: tuple[str, ...]) -> float | None:
        if group not in groups:
            return None
        counts = groups[group]["counts"]
        return sum(counts[label] for label in labels) / groups[group]["n"]

    return {
        "over_refusal_validation": rate("pseudo_malicious", ("refusal", "partial", "degenerate")),
        "asr_validation": rate("harmful", ("compliance",)),
        "benign_refusal_validation": rate("benign", ("refusal", "partial", "degenerate")),
    }


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
