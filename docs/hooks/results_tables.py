"""MkDocs hook: result tables from the files `python train.py --seeds N` writes
(seeds.json).

The runs are kept under docs/assets/results/<variant>/seeds.json (committed, small); the
pages show them through marker lines, so a page's numbers are always those of the
committed runs:

    <!-- minimlp:seeds-headline mse-1 -->
        one sentence: mean ± std, min, max of the test accuracy
    <!-- minimlp:seeds-summary mse-1 mse-2 ce-2 -->
        one row per variant, plus the report's single run
    <!-- minimlp:seeds-runs mse-1 -->
        one row per seed
    <!-- minimlp:seeds-compare mse-1 mse-1-float64 -->
        test errors per seed in two runs (e.g. float32 and float64)

Standard library only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

MARKER = re.compile(
    r"^([ \t]*)<!-- minimlp:seeds-(headline|summary|runs|compare) ([\w\- ]+) -->$",
    re.MULTILINE,
)
RESULTS = Path("assets") / "results"
# Betti & Mueller (2018): one run, 9 errors out of 1000 test points
REPORT_TEST_ACCURACY = 0.991


def _load(config, variant: str) -> dict:
    path = Path(config.docs_dir) / RESULTS / variant / "seeds.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: run python train.py --seeds 10 --out {path.parent}"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _percent(value: float) -> str:
    return f"{100 * value:.2f}\u00a0%"


def _test_points(data: dict) -> int:
    return data["config"].get("test_points", 1000)


def _mean_std(stats: dict) -> str:
    return f"{100 * stats['mean']:.2f}\u00a0±\u00a0{100 * stats['std']:.2f}\u00a0%"


def describe(run_config: dict) -> str:
    """'1 output, MSE' and the like, from the config train.py saved."""
    if run_config["loss"] == "ce":
        return "2 logits, cross-entropy"
    outputs = run_config["outputs"]
    text = f"{outputs} output{'s' if outputs > 1 else ''}, MSE"
    if run_config.get("dtype", "float32") != "float32":
        text += f", {run_config['dtype']}"
    return text


def headline(config, variant: str) -> str:
    data = _load(config, variant)
    test, n = data["summary"]["test_acc"], len(data["runs"])
    seeds = [run["seed"] for run in data["runs"]]
    low, high = _percent(test["min"]), _percent(test["max"])
    report = _percent(REPORT_TEST_ACCURACY)
    return (
        f"**{_mean_std(test)}** test accuracy (mean ± standard deviation) on "
        f"{_test_points(data):,} fresh test points per seed, over {n} seeds "
        f"({seeds[0]}–{seeds[-1]}; min {low}, max {high}), "
        f"where the report gives {report} from a single run on 1,000."
    )


def summary(config, variants: list[str]) -> str:
    """One row per variant, the key column (the test accuracy) right after the run's
    name, so that a phone shows it before the table scrolls."""
    lines = [
        "| run (starting learning rate) | test, mean ± std | test points | train "
        "| validation | test min | test max |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| the report (2018): 1 output, MSE; one run "
        f"| {_percent(REPORT_TEST_ACCURACY)} | 1,000 | | | | |",
    ]
    for variant in variants:
        data = _load(config, variant)
        s, run = data["summary"], data["config"]
        test = s["test_acc"]
        lines.append(
            f"| minimlp: {describe(run)} ({run['lr']}); {len(data['runs'])} seeds "
            f"| **{_mean_std(test)}** | {_test_points(data):,} "
            f"| {_mean_std(s['train_acc'])} | {_mean_std(s['val_acc'])} "
            f"| {_percent(test['min'])} | {_percent(test['max'])} |"
        )
    return "\n".join(lines)


def runs(config, variant: str) -> str:
    data = _load(config, variant)
    lines = [
        f"| seed | test | test errors (of {_test_points(data):,}) | train | validation "
        "| seconds |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for run in data["runs"]:
        if run.get("diverged"):
            lines.append(f"| {run['seed']} | diverged | | | | |")
            continue
        lines.append(
            f"| {run['seed']} | {_percent(run['test_acc'])} | {run['test_errors']} "
            f"| {_percent(run['train_acc'])} | {_percent(run['val_acc'])} "
            f"| {run['seconds']:.1f} |"
        )
    return "\n".join(lines)


def compare(config, variants: list[str]) -> str:
    """Test errors of each seed in two runs side by side, and their difference."""
    first, second = (_load(config, variant) for variant in variants)
    names = [describe(data["config"]) for data in (first, second)]
    dtypes = [data["config"].get("dtype", "float32") for data in (first, second)]
    same_run = names[0] == describe(dict(second["config"], dtype=dtypes[0]))
    if dtypes[0] != dtypes[1] and same_run:
        # the same run in two dtypes: short headers, so that a phone shows them all
        names = dtypes
    lines = [
        f"| seed | test errors, {names[0]} | test errors, {names[1]} | difference |",
        "|---:|---:|---:|---:|",
    ]
    for a, b in zip(first["runs"], second["runs"]):
        if a.get("diverged") or b.get("diverged"):
            lines.append(f"| {a['seed']} | diverged | | |")
            continue
        lines.append(
            f"| {a['seed']} | {a['test_errors']} | {b['test_errors']} "
            f"| {b['test_errors'] - a['test_errors']:+d} |"
        )
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    def replace(match: re.Match) -> str:
        indent, kind, variants = match.group(1), match.group(2), match.group(3).split()
        if kind == "summary":
            text = summary(config, variants)
        elif kind == "compare":
            text = compare(config, variants)
        else:
            (variant,) = variants
            text = (
                headline(config, variant)
                if kind == "headline"
                else runs(config, variant)
            )
        return "\n".join(indent + line for line in text.splitlines())

    return MARKER.sub(replace, markdown)
