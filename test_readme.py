"""The README and the CI that runs what it promises, checked in one place
(run: ``python -m pytest -q test_readme.py``).

1. the README reads in a minute: at most about 100 lines, the two commands
   (train, test) in its first 30 lines, a link to the site, the exercise
   command;
2. its example runs;
3. every number it quotes is the committed one (accuracies from the committed
   seed tables, speed ratios from the committed Performance table);
4. CI runs the README's test command: ``.ci/run`` ends with it, and the GitHub
   workflow's whole-suite job runs ``.ci/run``.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
TRAIN = "python -m pip install -r requirements.txt && python train.py"
TEST = "python -m pip install -r requirements-dev.txt && python -m pytest -q"
RESULTS = ROOT / "docs" / "assets" / "results"


def section(title):
    """The text of the README's `## title` section, whitespace folded."""
    text = README.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]
    return " ".join(text.split())


# ---------------------------------------------------------------------------
# 1. A README a newcomer reads in a minute
# ---------------------------------------------------------------------------


def test_short_with_the_two_commands_first():
    lines = README.splitlines()
    assert len(lines) <= 105, f"README.md is {len(lines)} lines: the detail belongs on the site"
    head = "\n".join(lines[:30])
    assert TRAIN in head and TEST in head, "the two commands sit in the first 30 lines"


def test_links_to_the_site_and_gives_the_exercise_command():
    assert "docs/index.md" in README and "GitHub Pages" in README, "where the site is"
    assert re.search(r"python exercises/check\.py \S+\.py", README), "the exercise command"
    for path in re.findall(r"\]\(([^)#:]+)\)", README):  # every local link resolves
        assert (ROOT / path).exists(), f"README links to {path}, which does not exist"


# ---------------------------------------------------------------------------
# 2. The example runs
# ---------------------------------------------------------------------------


def test_the_example_runs(tmp_path):
    block = re.search(r"^## Example\n.*?^```python\n(.*?)^```", README, flags=re.M | re.S)
    assert block, "an Example section with a python block"
    script = tmp_path / "readme_example.py"
    script.write_text(block.group(1))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, f"the README example exits 0:\n{done.stdout}\n{done.stderr}"
    accuracy = float(re.search(r"training accuracy after 100 epochs: ([\d.]+)", done.stdout)[1])
    assert accuracy > 0.9, f"it learns, as the README says: {done.stdout}"


# ---------------------------------------------------------------------------
# 3. Every number it quotes is the committed one
# ---------------------------------------------------------------------------


def committed(variant):
    return json.loads((RESULTS / variant / "seeds.json").read_text(encoding="utf-8"))


def test_accuracies_are_the_committed_runs():
    text = section("The experiment")
    sharp = committed("mse-1-20k")["summary"]["test_acc"]
    assert f"{100 * sharp['mean']:.2f} ± {100 * sharp['std']:.2f} %" in text, "20 000-point mean"
    table = committed("mse-1")
    seed0 = table["runs"][0]
    assert seed0["seed"] == 0
    assert f"seed 0 prints {100 * seed0['test_acc']:.2f} %" in text, "the default run"
    summary = table["summary"]["test_acc"]
    assert f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} %" in text, "1000 points"
    assert "99.1 %" in text, "the report's single run"


def committed_ratio(case):
    """The ratio minimlp / torch of a timed row of the committed Performance table."""
    table = (ROOT / "docs" / "performance_table.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines()
            if line.startswith(f"| {case} | ") and " | ms / " in line]
    assert len(rows) == 1, f"docs/performance_table.md has one timed row {case!r}"
    return rows[0].split(" | ")[1].split()[0]  # the column minimlp / torch


def test_speed_ratios_are_the_committed_table():
    text = section("Speed")
    for case in ("disk net, textbook file, manual loop, batch 100",
                 "disk net, **fast variant**, manual loop, batch 100",
                 "784-1024-1024-10, CE, batch 256"):
        ratio = committed_ratio(case)
        assert f"{ratio} ×" in text, f"the Speed section states {ratio} ({case})"


# ---------------------------------------------------------------------------
# 4. CI runs what the README promises
# ---------------------------------------------------------------------------


def test_ci_runs_the_readme_s_test_command():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert script.rstrip().splitlines()[-1] == TEST, ".ci/run ends with the README's command"
    assert "download.pytorch.org/whl/cpu" in script, "torch from the CPU-only index"


def test_the_github_workflow_runs_the_whole_suite():
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with mkdocs (requirements-dev.txt)")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "tests.yml").read_text())
    suite = workflow["jobs"]["suite"]
    runs = [step.get("run", "") for step in suite["steps"]]
    assert "bash .ci/run" in runs, "the whole-suite job runs .ci/run, the README's test command"
    assert any(step.get("with", {}).get("python-version") == "3.11" for step in suite["steps"])
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]["include"]
    assert {row["torch"] for row in matrix} >= {"2.0.1", "2.14.1"}, "oldest and newest torch"
