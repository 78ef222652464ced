"""Remake every committed result of the site, and tell which ones are stale.

Every figure, table and quoted number of the site that a program computes is a *part*
below: the command that makes it, the files it writes, and the scripts it runs. The
manifest (docs/assets/results/manifest.json) records, for each part, its command and a
fingerprint of the code it depends on: each script and every local module it imports,
as far as they go (minimlp.py, train.py and the modules train.py imports, ...).

The fingerprint of a file is the sha256 of its code without its comments, docstrings and
blank lines: editing a comment or a docstring leaves every result current; changing a
line that computes makes every result of that code stale. test_docs.py recomputes the
fingerprints (fast, nothing is run) and fails naming the stale files and the command
that remakes them.

From the repository root:

    python docs/regenerate.py                 # every part, then the manifest
    python docs/regenerate.py --only seeds-mse-1 --only figures
    python docs/regenerate.py --list          # the parts, their commands, stale or not
    python docs/regenerate.py --check         # exit status 1 when a part is stale

The parts run side by side (--jobs, default: the number of CPUs), except the timing
table (Performance), which runs alone at the end, so that nothing else competes for the
CPU while it measures. Its numbers change at every run: after it, the ratios of the new
table are compared with the committed ones (RATIO_TOLERANCE). Elsewhere the seconds a
seed took are timings too: a seeds table whose other numbers did not change is kept as
committed, so that a regeneration of unchanged code leaves `git status` clean.
Standard library only (the commands themselves need torch and matplotlib).
"""

import argparse
import ast
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path("docs/assets/results/manifest.json")
PYTHON = "python"  # as the commands are shown; they run with this interpreter
TIMING_KEYS = {"seconds"}  # fields of a result that are timings, not results
RATIO_TOLERANCE = 0.25  # a timing table's ratios may move by this share of their value
SEED_VARIANTS = {  # the experiment page's seed tables: folder -> options of train.py
    "mse-1": [],
    "mse-1-20k": ["--test-points", "20000"],
    "mse-1-float64": ["--dtype", "float64"],
    "mse-2": ["--outputs", "2"],
    "ce-2": ["--loss", "ce"],
}


@dataclass
class Part:
    """One command and the committed files it writes.

    `sources` are the files it runs (a script, or "page.md#title" for the code block of
    a page titled so); the local modules they import are found by `dependencies`.
    `stdout` is the file that the command's standard output becomes, if any.
    `make` runs the part when it is more than a command (run in a folder of its own).
    """

    name: str
    command: list[str]
    outputs: list[str]
    sources: list[str]
    stdout: str | None = None
    timing: bool = False
    make: object = None

    def shown(self) -> str:
        text = " ".join(self.command)
        return f"{text} > {self.stdout}" if self.stdout else text


def _homework(year: str) -> Part:
    folder = f"docs/homework/{year}"
    return Part(f"homework-{year}", ["python", "-E", "-s", "test.py",
                                     "(in a folder holding only it and minimlp.py)"],
                [f"{folder}/output.txt"],
                [f"{folder}/test.py"], stdout=f"{folder}/output.txt",
                make=lambda part, root: _run_beside_minimlp(part, root, folder))


def parts() -> list[Part]:
    """Every part, in the order a reader meets its results."""
    figures = [f"docs/assets/img/{name}"
               for name in ("decision_regions.png", "history.png", "training.gif",
                            "gradient_flow.png", "hidden_units.png")]
    found = [
        Part("worked-example", ["python", "-c", "(worked_example.py of backprop.md)"],
             ["docs/backprop.md"], ["docs/backprop.md#worked_example.py"],
             make=_run_worked_example),
        Part("figures", [PYTHON, "train.py", "--no-live", "--out", "docs/assets/img"],
             figures, ["train.py"]),
    ]
    for variant, options in SEED_VARIANTS.items():
        out = f"docs/assets/results/{variant}"
        found.append(Part(f"seeds-{variant}",
                          [PYTHON, "train.py", "--seeds", "10", *options, "--out", out],
                          [f"{out}/seeds.json", f"{out}/seeds.csv"], ["train.py"]))
    found += [
        _homework("2021"),
        _homework("2018"),
        Part("equivalence", [PYTHON, "docs/pytorch/equivalence.py"],
             ["docs/pytorch/output.txt"], ["docs/pytorch/equivalence.py"],
             stdout="docs/pytorch/output.txt"),
        Part("worked-example-graph", [PYTHON, "docs/lab/worked_example_graph.py"],
             ["docs/assets/lab/worked_example_graph.png",
              "docs/assets/lab/worked_example_graph_steps.gif"],
             ["docs/lab/worked_example_graph.py"]),
        Part("vanishing-lab", [PYTHON, "docs/lab/vanishing.py"],
             [f"docs/assets/lab/vanishing{name}" for name in (
                 ".json", "_table.md", "_nielsen.md", "_escape.md", "_init.png",
                 "_training.png", "_depth.png", "_escape.png")],
             ["docs/lab/vanishing.py"]),
        Part("performance", [PYTHON, "bench.py", "--clock", "cpu", "--repeats", "40"],
             ["docs/performance_table.md"], ["bench.py"], timing=True),
    ]
    return found


# ---------------------------------------------------------------------------
# Fingerprints: the code a result depends on
# ---------------------------------------------------------------------------


def code_text(source: str) -> str:
    """The source without its comments, docstrings, blank lines and trailing spaces:
    what a fingerprint hashes, so that only a change of the code stales a result."""
    tree = ast.parse(source)
    lines = source.splitlines()
    cut = []  # (first line, first column, last line, end column), 1-based lines
    for node in [tree] + [n for n in ast.walk(tree) if isinstance(
            n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]:
        first = node.body[0] if node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                and isinstance(first.value.value, str):
            cut.append((first.lineno, first.col_offset, first.end_lineno,
                        first.end_col_offset))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            cut.append((token.start[0], token.start[1], token.end[0], token.end[1]))
    # Cut from the end, so that earlier positions stay right.
    for first, column, last, end in sorted(cut, reverse=True):
        text = lines[first - 1][:column] + lines[last - 1][end:]
        lines[first - 1:last] = [text]
    kept = [line.rstrip() for line in lines if line.strip()]
    return "\n".join(kept) + "\n"


def _code_block(page: Path, title: str) -> str:
    """The code of the fenced block titled `title` on a Markdown page."""
    text = page.read_text(encoding="utf-8")
    found = re.search(r'^(`{3,})python title="' + re.escape(title) + r'"\n(.*?)^\1$',
                      text, re.MULTILINE | re.DOTALL)
    if found is None:
        raise LookupError(f"{page.name} has no code block titled {title}")
    return found.group(2)


def _source_of(dependency: str, root: Path) -> str:
    if "#" in dependency:
        page, title = dependency.split("#", 1)
        return _code_block(root / page, title)
    return (root / dependency).read_text(encoding="utf-8")


def _local_imports(dependency: str, source: str, root: Path) -> list[str]:
    """The files of the repository that `source` imports (anywhere in it): a module
    beside it, or at the repository root."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    folder = (root / dependency.split("#")[0]).parent
    found = []
    for name in sorted(names):
        for candidate in (folder / f"{name}.py", root / f"{name}.py"):
            if candidate.is_file():
                found.append(candidate.relative_to(root).as_posix())
                break
    return found


def dependencies(part: Part, root: Path = ROOT) -> list[str]:
    """The part's sources and every local module they import, directly or not."""
    seen, todo = [], list(part.sources)
    while todo:
        dependency = todo.pop()
        if dependency in seen:
            continue
        seen.append(dependency)
        todo += _local_imports(dependency, _source_of(dependency, root), root)
    return sorted(seen)


def fingerprints(part: Part, root: Path = ROOT) -> dict[str, str]:
    """{dependency: sha256 of its code_text} (comments and docstrings left out)."""
    return {dependency: hashlib.sha256(
                code_text(_source_of(dependency, root)).encode("utf-8")).hexdigest()
            for dependency in dependencies(part, root)}


def read_manifest(root: Path = ROOT) -> dict:
    path = root / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def entry(part: Part, root: Path = ROOT) -> dict:
    """What the manifest records of a part."""
    return {"command": part.shown(), "outputs": part.outputs,
            "code": fingerprints(part, root), "timing": part.timing}


def stale(part: Part, root: Path = ROOT, manifest: dict | None = None) -> str | None:
    """Why the part's committed results are stale (None when they are current)."""
    manifest = read_manifest(root) if manifest is None else manifest
    recorded = manifest.get(part.name)
    if recorded is None:
        return "no fingerprint recorded for it"
    missing = [out for out in part.outputs if not (root / out).is_file()]
    if missing:
        return f"{', '.join(missing)} missing"
    if recorded.get("command") != part.shown():
        return f"made by another command ({recorded.get('command')})"
    try:
        now = fingerprints(part, root)
    except (OSError, LookupError, SyntaxError) as error:
        return f"its code cannot be read ({error})"
    then = recorded.get("code", {})
    changed = sorted(name for name in set(now) | set(then)
                     if now.get(name) != then.get(name))
    if changed:
        return "the code of " + ", ".join(changed) + " changed since it was made"
    return None


def stale_message(part: Part, reason: str) -> str:
    return (f"{', '.join(part.outputs)}: stale, {reason}. Remake with "
            f"`python docs/regenerate.py --only {part.name}` (runs: {part.shown()})")


# ---------------------------------------------------------------------------
# Running the parts
# ---------------------------------------------------------------------------


def _command(part: Part) -> list[str]:
    return [sys.executable if word == PYTHON else word for word in part.command]


def _run(part: Part, root: Path, cwd: Path | None = None) -> str:
    done = subprocess.run(_command(part), cwd=cwd or root, capture_output=True,
                          text=True, env=dict(os.environ, MPLBACKEND="Agg"),
                          timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{part.shown()} failed:\n{done.stderr[-3000:]}")
    if part.stdout:
        (root / part.stdout).write_text(done.stdout, encoding="utf-8")
    return done.stdout


def _run_beside_minimlp(part: Part, root: Path, folder: str) -> None:
    """A homework's test.py, as a student runs it: in a folder holding it and minimlp.py
    alone, with no PYTHON* variable."""
    with tempfile.TemporaryDirectory() as where:
        shutil.copy(root / "minimlp.py", where)
        shutil.copy(root / folder / "test.py", where)
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("PYTHON", "OMP_"))}
        done = subprocess.run([sys.executable, "-E", "-s", "test.py"], cwd=where,
                              env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{folder}/test.py failed:\n{done.stderr[-3000:]}")
    (root / part.stdout).write_text(done.stdout, encoding="utf-8")


def _run_worked_example(part: Part, root: Path) -> None:
    """Run the worked example of backprop.md; its output becomes the page's output
    block."""
    page = root / "docs/backprop.md"
    code = _code_block(page, "worked_example.py")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"worked_example.py failed:\n{done.stderr[-3000:]}")
    text = page.read_text(encoding="utf-8")
    block = re.compile(r'^(```text title="output"\n).*?^```$', re.MULTILINE | re.DOTALL)
    if not block.search(text):
        raise LookupError("backprop.md has no ```text title=\"output\" block")
    text = block.sub(lambda m: m.group(1) + done.stdout + "```", text, count=1)
    page.write_text(text, encoding="utf-8")


def _without_timings(path: Path, data: bytes) -> object:
    """The content of a .json or .csv result with its timing fields left out."""
    text = data.decode("utf-8")
    if path.suffix == ".json":
        def strip(value):
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k not in TIMING_KEYS}
            if isinstance(value, list):
                return [strip(v) for v in value]
            return value
        return strip(json.loads(text))
    if path.suffix == ".csv":
        return [{k: v for k, v in row.items() if k not in TIMING_KEYS}
                for row in csv.DictReader(io.StringIO(text))]
    return text


def table_ratios(markdown: str) -> dict[str, float]:
    """{case: ratio} of a timing table: the first number of its "minimlp / torch"
    column."""
    ratios, column = {}, None
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if any(cell.startswith("minimlp / torch") for cell in cells):
            column = next(i for i, cell in enumerate(cells)
                          if cell.startswith("minimlp / torch"))
            continue
        if column is None or not line.startswith("|") or len(cells) <= column:
            column = None if not line.startswith("|") else column
            continue
        number = re.match(r"\d+(?:\.\d+)?", cells[column])
        if number:
            ratios[cells[0]] = float(number.group(0))
    return ratios


def compare_ratios(old: str, new: str, tolerance: float = RATIO_TOLERANCE) -> list[str]:
    """The cases whose ratio moved by more than `tolerance` of the committed value."""
    before, after = table_ratios(old), table_ratios(new)
    return [f"{case}: {before[case]} -> {after[case]}" for case in before
            if case in after
            and abs(after[case] - before[case]) > tolerance * before[case]]


def regenerate(part: Part, root: Path = ROOT) -> tuple[float, list[str]]:
    """Run one part; return its seconds and any notes (a timing table out of bounds)."""
    before = {out: (root / out).read_bytes() for out in part.outputs
              if (root / out).is_file()}
    start = time.perf_counter()
    if part.make is not None:
        part.make(part, root)
    else:
        _run(part, root)
    seconds = time.perf_counter() - start
    notes = []
    for out, old in before.items():
        path = root / out
        new = path.read_bytes()
        if path.suffix in (".json", ".csv") and \
                _without_timings(path, old) == _without_timings(path, new):
            path.write_bytes(old)  # only the timings changed: keep the committed file
    if part.timing:
        for out, old in before.items():
            moved = compare_ratios(old.decode("utf-8"), (root / out).read_text("utf-8"))
            notes += [f"{out}: ratio outside ±{RATIO_TOLERANCE:.0%}: {m}"
                      for m in moved]
    return seconds, notes


def write_manifest(done: list[Part], root: Path = ROOT) -> None:
    manifest = read_manifest(root)
    for part in done:
        manifest[part.name] = entry(part, root)
    names = [part.name for part in parts()]
    ordered = {name: manifest[name] for name in names if name in manifest}
    path = root / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ordered, indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    every = parts()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=[p.name for p in every],
                        metavar="PART", help="run this part only (repeat for several): "
                        + ", ".join(p.name for p in every))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="parts run side by side (default: the number of CPUs)")
    parser.add_argument("--list", action="store_true",
                        help="list the parts, their commands, stale or not")
    parser.add_argument("--check", action="store_true",
                        help="run nothing; exit with status 1 if a part is stale")
    args = parser.parse_args(argv)
    if args.list or args.check:
        manifest, stale_found = read_manifest(), False
        for part in every:
            reason = stale(part, manifest=manifest)
            stale_found |= reason is not None
            if args.list:
                state = "stale" if reason else "current"
                print(f"{part.name:<22} {state}: {part.shown()}")
            elif reason:
                print(stale_message(part, reason))
        return 1 if args.check and stale_found else 0
    chosen = [p for p in every if not args.only or p.name in args.only]
    side_by_side = [p for p in chosen if not p.timing]
    alone = [p for p in chosen if p.timing]
    start, notes = time.perf_counter(), []

    def run(part: Part) -> Part:
        print(f"{part.name}: {part.shown()}", flush=True)
        seconds, part_notes = regenerate(part)
        notes.extend(part_notes)
        print(f"{part.name}: done in {seconds:.0f} s", flush=True)
        return part

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = list(pool.map(run, side_by_side))
    done += [run(part) for part in alone]
    write_manifest(done)
    print(f"{len(done)} parts in {time.perf_counter() - start:.0f} s; "
          f"fingerprints written to {MANIFEST}")
    for note in notes:
        print(note)
    return 1 if notes else 0


if __name__ == "__main__":
    sys.exit(main())
