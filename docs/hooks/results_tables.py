"""MkDocs hook: result tables from the files `python train.py --seeds N` writes (seeds.json).

The runs are kept under docs/assets/results/<variant>/seeds.json (committed, small); the pages show
them through marker lines, so a page's numbers are always those of the committed runs:

    <!-- minimlp:seeds-headline mse-1 -->            one sentence: mean ± std, min, max of the test accuracy
    <!-- minimlp:seeds-summary mse-1 mse-2 ce-2 -->  one row per variant, plus the report's single run
    <!-- minimlp:seeds-runs mse-1 -->               one row per seed

Standard library only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

MARKER = re.compile(r"^([ \t]*)<!-- minimlp:seeds-(headline|summary|runs) ([\w\- ]+) -->$", re.MULTILINE)
RESULTS = Path("assets") / "results"
REPORT_TEST_ACCURACY = 0.991  # Betti & Mueller (2018): one run, 9 errors out of 1000 test points


def _load(config, variant: str) -> dict:
    path = Path(config.docs_dir) / RESULTS / variant / "seeds.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run python train.py --seeds 10 --out {path.parent}")
    return json.loads(path.read_text(encoding="utf-8"))


def _percent(value: float) -> str:
    return f"{100 * value:.2f}\u00a0%"


def _mean_std(stats: dict) -> str:
    return f"{100 * stats['mean']:.2f}\u00a0±\u00a0{100 * stats['std']:.2f}\u00a0%"


def describe(run_config: dict) -> str:
    """'1 output, MSE' and the like, from the config train.py saved."""
    if run_config["loss"] == "ce":
        return "2 logits, cross-entropy"
    outputs = run_config["outputs"]
    return f"{outputs} output{'s' if outputs > 1 else ''}, MSE"


def headline(config, variant: str) -> str:
    data = _load(config, variant)
    test, n = data["summary"]["test_acc"], len(data["runs"])
    return (f"**{_mean_std(test)}** test accuracy over {n} seeds (min {_percent(test['min'])}, "
            f"max {_percent(test['max'])}), where the report gives {_percent(REPORT_TEST_ACCURACY)} "
            f"from a single run.")


def summary(config, variants: list[str]) -> str:
    lines = ["| run (starting learning rate) | train | validation | test, mean ± std | test min | test max |",
             "|---|---:|---:|---:|---:|---:|",
             f"| the report (2018): 1 output, MSE; one run | | | {_percent(REPORT_TEST_ACCURACY)} | | |"]
    for variant in variants:
        data = _load(config, variant)
        s, run = data["summary"], data["config"]
        lines.append(
            f"| minimlp: {describe(run)} ({run['lr']}); {len(data['runs'])} seeds "
            f"| {_mean_std(s['train_acc'])} | {_mean_std(s['val_acc'])} | **{_mean_std(s['test_acc'])}** "
            f"| {_percent(s['test_acc']['min'])} | {_percent(s['test_acc']['max'])} |")
    return "\n".join(lines)


def runs(config, variant: str) -> str:
    data = _load(config, variant)
    lines = ["| seed | train | validation | test | test errors (of 1000) | seconds |",
             "|---:|---:|---:|---:|---:|---:|"]
    for run in data["runs"]:
        lines.append(f"| {run['seed']} | {_percent(run['train_acc'])} | {_percent(run['val_acc'])} "
                     f"| {_percent(run['test_acc'])} | {run['test_errors']} | {run['seconds']:.1f} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    def replace(match: re.Match) -> str:
        indent, kind, variants = match.group(1), match.group(2), match.group(3).split()
        if kind == "summary":
            text = summary(config, variants)
        else:
            (variant,) = variants
            text = headline(config, variant) if kind == "headline" else runs(config, variant)
        return "\n".join(indent + line for line in text.splitlines())

    return MARKER.sub(replace, markdown)
