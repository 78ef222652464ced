"""Checks of the documentation site (mkdocs.yml, docs/) that `mkdocs build --strict`
does not make.

- Code shown by name (`<!-- minimlp:code Dense.backward -->`,
  docs/hooks/include_code.py): every name exists, the pages show every module, and a
  missing name fails the strict build, naming it.
- Every local file named by mkdocs.yml (hooks, extra CSS/JS) exists.
- The annotated-source hook keeps every code line of minimlp.py; the API page lists
  every public name.
- The Python examples of the pages run, and the worked example's numbers are what
  minimlp computes.
- The homework's test.py files run beside minimlp.py alone and print the error rates the
  page shows; the PyTorch page's equivalence run still ends with the same weights in
  both frameworks.
- The site builds strictly with SITE_URL set, served under /minimlp/ as on GitHub Pages:
  it requests nothing outside itself, every formula is typeset by KaTeX, nothing scrolls
  sideways in a 1280x800 window, the annotated page reads side by side, and the 404 page
  of a missing deep URL is styled (in headless Chromium; skipped only where Chromium is
  not installed).

Building the site needs mkdocs and mkdocs-material only; the examples need torch."""

from __future__ import annotations

import ast
import html
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
DOCS = ROOT / "docs"
SOURCE = ROOT / "minimlp.py"

# What the pages must show of minimlp.py, by qualified name (include_code.py's
# directive): every layer's forward and backward, the losses, the optimizers' steps, the
# training loop, accuracy and gradcheck.
SHOWN_NAMES = """Module Dense.__init__ Dense.forward Dense.backward ReLU.forward
    ReLU.backward Tanh.forward Tanh.backward Sigmoid.forward Sigmoid.backward Identity
    Softmax.forward Softmax.backward Dropout.forward Dropout.backward Sequential.forward
    Sequential.backward MSELoss.forward MSELoss.backward CrossEntropyLoss.forward
    CrossEntropyLoss.backward SGD.step Adam.step _train_epoch accuracy
    gradcheck""".split()
# The public names of the API contract.
API_NAMES = """Module Dense ReLU Tanh Sigmoid Identity Softmax Dropout Sequential
    MSELoss CrossEntropyLoss SGD Adam History fit accuracy gradcheck""".split()

FENCED = re.compile(r"^(`{3,})(\w+)([^\n]*)\n(.*?)^\1$", re.MULTILINE | re.DOTALL)


def _load_hook(name: str):
    """A hook module, loaded as mkdocs loads it: with its folder on sys.path while it
    runs."""
    spec = importlib.util.spec_from_file_location(name, DOCS / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    saved = sys.path.copy()
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


def _fenced_blocks(page: str) -> list[tuple[str, str, str]]:
    """(language, options, body) of every fenced code block of a docs page."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return [(m.group(2), m.group(3), m.group(4)) for m in FENCED.finditer(text)]


def _titled_python_blocks() -> list[tuple[str, str]]:
    """(page:title, code) of every ```python title="x.py"``` example in the docs."""
    blocks = []
    for page in sorted(p.name for p in DOCS.glob("*.md")):
        for language, options, body in _fenced_blocks(page):
            title = re.search(r'title="([^"]+\.py)"', options)
            # worked_example.py has a test of its own, which also checks its output
            if (
                language == "python"
                and title
                and title.group(1) not in ("minimlp.py", "worked_example.py")
            ):
                blocks.append((f"{page}:{title.group(1)}", body))
    return blocks


def _run_python(code: str) -> str:
    """Run `code` in a fresh interpreter with minimlp importable; return its stdout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"example failed:\n{done.stderr}"
    return done.stdout


# ---------------------------------------------------------------------------
# Code included by qualified name, and local files
# ---------------------------------------------------------------------------


def _code_directives() -> list[tuple[str, str]]:
    """(page, name) of every `<!-- minimlp:code NAME -->` line of the docs."""
    include = _load_hook("include_code")
    return [
        (page.name, match.group("name"))
        for page in sorted(DOCS.glob("*.md"))
        for match in include.CODE.finditer(page.read_text(encoding="utf-8"))
    ]


def test_every_code_directive_names_code_in_minimlp_and_the_pages_show_every_module():
    include = _load_hook("include_code")
    source = SOURCE.read_text(encoding="utf-8")
    shown = set()
    for page, name in _code_directives():
        text = source
        if ":" in name:  # code of another file of docs/
            relative, name = name.split(":", 1)
            assert (
                DOCS / relative
            ).is_file(), f"docs/{page} shows code of {relative}, which is missing"
            text = (DOCS / relative).read_text(encoding="utf-8")
        try:
            code = include.extract(text, name)
        except include.NameNotFound as error:
            pytest.fail(f"docs/{page}: {error}")
        assert code.strip() and not code.startswith(
            (" ", "\t")
        ), f"{page}: {name} is empty or not dedented"
        if text is source:
            shown.add(include.QUALIFIED.match(name).group("path"))
    assert (
        set(SHOWN_NAMES) <= shown
    ), f"no page shows {sorted(set(SHOWN_NAMES) - shown)}"
    assert "--8<--" not in "".join(
        p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")
    ), "a page still uses a snippet include; include code by name instead"


def test_include_code_finds_functions_methods_and_classes_in_part():
    include = _load_hook("include_code")
    source = (
        "import os\n\n\n"
        "class A(Base):\n"
        '    """Doc."""\n\n'
        "    size = 2\n\n"
        "    def f(self):\n"
        "        return 1  # one\n\n"
        "    def g(self):\n"
        "        return 2\n\n"
        "    @property\n"
        "    def h(self):\n"
        "        return 3\n\n\n"
        "def top(x):\n"
        "    return x\n"
    )
    assert include.extract(source, "top") == "def top(x):\n    return x"
    assert include.extract(source, "A.f") == "def f(self):\n    return 1  # one"
    assert include.extract(source, "A.h") == "@property\ndef h(self):\n    return 3"
    assert include.extract(source, "A(h)") == (
        'class A(Base):\n    """Doc."""\n\n    size = 2\n\n    ...\n\n'
        "    @property\n    def h(self):\n        return 3"
    )
    for missing, says in [
        ("nope", "defines no 'nope'"),
        ("A.nope", "A defines no 'nope'"),
        ("A(f, zz)", "defines no 'zz'"),
        ("top(x)", "needs a class"),
    ]:
        with pytest.raises(include.NameNotFound, match=re.escape(says)):
            include.extract(source, missing)


def _mkdocs_build(
    project: Path, out: Path, site_url: str | None = None
) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env.pop("SITE_URL", None)
    if site_url is not None:
        env["SITE_URL"] = site_url
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_name_missing_from_minimlp_fails_the_strict_build_naming_it(tmp_path):
    # Without SITE_URL (a local build, or CI's test run) the site builds strictly; with
    # one page naming code that minimlp.py lacks, the build fails and says which name on
    # which page.
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project)
    shutil.copy(SOURCE, project)
    shutil.copytree(DOCS, project / "docs")
    done = _mkdocs_build(project, tmp_path / "site")
    assert (
        done.returncode == 0
    ), f"mkdocs build --strict without SITE_URL failed:\n{done.stderr}"
    assert (tmp_path / "site" / "404.html").is_file()
    page = project / "docs" / "homework.md"
    page.write_text(
        page.read_text(encoding="utf-8")
        + "\n<!-- minimlp:code Dense.no_such_method -->\n",
        encoding="utf-8",
    )
    done = _mkdocs_build(project, tmp_path / "site2")
    assert done.returncode != 0, "a missing name must fail the strict build"
    assert (
        "homework.md" in done.stderr and "Dense.no_such_method" in done.stderr
    ), done.stderr


def _mkdocs_config() -> dict:
    yaml = pytest.importorskip(
        "yaml", reason="mkdocs (which brings PyYAML) is not installed"
    )

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor(
        "!", lambda loader, suffix, node: None
    )  # mkdocs' own tags (!relative)
    return yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)


def _nav_pages() -> list[str]:
    """The URL path of every page in mkdocs.yml's nav: '' for index.md, 'backprop/'
    for backprop.md (read when a test asks, so that collecting the tests needs no
    mkdocs)."""
    pages = [next(iter(item.values())) for item in _mkdocs_config()["nav"]]
    return ["" if page == "index.md" else page[: -len(".md")] + "/" for page in pages]


def test_every_local_file_named_in_mkdocs_yml_exists():
    config = _mkdocs_config()
    for entry in config.get("extra_javascript", []) + config.get("extra_css", []):
        path = entry if isinstance(entry, str) else entry["path"]
        assert not re.match(
            r"^(https?:)?//", path
        ), f"{path}: the site must not load anything from the network"
        assert (
            DOCS / path
        ).is_file(), f"mkdocs.yml names {path}, which is not under docs/"
    for hook in config.get("hooks", []):
        assert (
            ROOT / hook
        ).is_file(), f"mkdocs.yml names the hook {hook}, which does not exist"
    for item in config["nav"]:
        (page,) = item.values()
        assert (DOCS / page).is_file(), f"nav names {page}, which does not exist"
    assert (
        config["theme"]["font"] is False
    ), "theme.font must stay false (no Google Fonts)"


# ---------------------------------------------------------------------------
# The generated pages: annotated source and API reference
# ---------------------------------------------------------------------------


def test_annotated_source_keeps_every_code_line_in_order():
    annotated = _load_hook("annotated_source")
    source = SOURCE.read_text(encoding="utf-8")
    shown = [
        line
        for _, code in annotated.split_rows(source)
        for line in code
        if line.strip()
    ]
    tree = ast.parse(source)
    docstring_lines = annotated._docstrings(tree)[1]
    expected = [
        line
        for number, line in enumerate(source.splitlines(), start=1)
        if line.strip()
        and number not in docstring_lines
        and not (line.lstrip().startswith("#") and not annotated.SHAPE_NOTE.match(line))
    ]
    assert shown == expected, "the annotated page lost, added or reordered code lines"


def test_annotated_source_has_a_heading_per_section_and_a_box_per_definition():
    annotated = _load_hook("annotated_source")
    source = SOURCE.read_text(encoding="utf-8")
    units = annotated.units(source)
    # a heading per section rule of the file (the line after each opening rule), in
    # order
    lines = source.splitlines()
    rules = [i for i, line in enumerate(lines) if annotated.SECTION_RULE.match(line)]
    banners = [lines[i + 1].lstrip("#").strip() for i in rules[0::2]]
    headings = [unit.heading for unit in units if unit.heading is not None]
    assert (
        len(banners) >= 6 and headings == [annotated.FIRST_HEADING] + banners
    ), headings
    assert "# -----" not in annotated.render_markdown(source)
    # every class, method and top-level function opens a box of its own: no box holds
    # two
    tree = ast.parse(source)
    definitions = [
        n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
    ]
    definitions += [
        m
        for c in tree.body
        if isinstance(c, ast.ClassDef)
        for m in c.body
        if isinstance(m, ast.FunctionDef)
    ]
    first_line = _load_hook("hook_helpers").first_line
    headers = {
        lines[first_line(d) - 1] for d in definitions
    }  # `def f(...):` as in the file
    per_box = [
        sum(line in headers for piece in unit.pieces for line in piece.code)
        for unit in units
        if unit.pieces
    ]
    assert max(per_box) == 1 and sum(per_box) == len(definitions), per_box


def test_annotated_source_keeps_each_equation_line_and_shows_examples_as_code():
    annotated = _load_hook("annotated_source")
    source = (
        '"""The module.\n\nNotation:\n\n    s⁽ˡ⁾ = x⁽ˡ⁻¹⁾ w⁽ˡ⁾ᵀ + b⁽ˡ⁾\n"""\n\n'
        "# ----------------\n# Activations\n#\n# Each entry alone:\n#\n"
        "#     ∂ℓ/∂s = ∂ℓ/∂x ⊙ σ'(s)\n"
        "# ----------------\n\n\n"
        "class Tanh:\n"
        "    def backward(self, grad_output):\n"
        "        # σ'(s) = 1 − tanh²(s) = 1 − x²\n"
        "        # ∂ℓ/∂s = ∂ℓ/∂x ⊙ (1 − x²)\n"
        "        return grad_output * (1 - self.output ** 2)\n\n\n"
        "def accuracy(prediction, target):\n"
        '    """Fraction of rows right.\n\n    >>> accuracy(a, b)\n    0.5\n    """\n'
        "    return 1.0\n"
    )
    markdown = annotated.render_markdown(source)
    assert "## Activations" in markdown
    # two comment lines, two lines: not one paragraph
    assert (
        "σ'(s) = 1 − tanh<sup>2</sup>(s) = 1 − x<sup>2</sup></span><br>\n"
        '<span class="annotated-equation">∂ℓ/∂s = ∂ℓ/∂x ⊙ (1 − x<sup>2</sup>)</span>'
    ) in markdown
    assert (
        "```pycon\n>>> accuracy(a, b)\n0.5\n```" in markdown
    )  # not a nested blockquote
    # the notation reads with the letter l, in the text font, and ᵀ is the ⊤ of the
    # typeset pages
    assert (
        "s<sup>(l)</sup> = x<sup>(l−1)</sup> w<sup>(l)⊤</sup> + b<sup>(l)</sup>"
        in markdown
    )
    assert "ˡ" not in markdown and "ᵀ" not in markdown


def test_api_reference_lists_every_public_name_with_its_signature():
    api = _load_hook("api_reference")
    markdown = api.render_markdown(SOURCE.read_text(encoding="utf-8"))
    for name in API_NAMES:
        assert f"### `{name}`" in markdown, f"{name} is missing from the API reference"
    # grouped under the file's sections, which the (short) table of contents lists
    assert re.findall(r"^## (Losses|Optimizers)$", markdown, re.MULTILINE) == [
        "Losses",
        "Optimizers",
    ]
    # docstring examples are code, not nested blockquotes
    outside_code = re.sub(r"^```.*?^```$", "", markdown, flags=re.MULTILINE | re.DOTALL)
    assert ">>>" in markdown and not re.search(r"^\s*>", outside_code, re.MULTILINE)
    # the transpose is the ⊤ of the typeset pages, as on the annotated page
    assert (
        "ᵀ" in SOURCE.read_text(encoding="utf-8")
        and "ᵀ" not in markdown
        and "<sup>⊤</sup>" in markdown
    )
    # long signatures: one parameter per line, so that none is wider than the file's 88
    # characters
    signatures = re.findall(
        r'<div class="api-signature" markdown>\n\n```python\n(.*?)```',
        markdown,
        re.DOTALL,
    )
    assert len(signatures) >= len(API_NAMES)
    assert all(
        len(line) <= 88 for s in signatures for line in s.splitlines()
    ), signatures


# ---------------------------------------------------------------------------
# The examples of the pages run, and the worked example's numbers are minimlp's
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [pytest.param(code, id=title) for title, code in _titled_python_blocks()]
)
def test_python_example_of_the_docs_runs(code):
    _run_python(code)


def _parse_numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def test_worked_example_output_and_table_are_what_minimlp_computes():
    blocks = _fenced_blocks("backprop.md")
    (script,) = [
        body
        for language, options, body in blocks
        if 'title="worked_example.py"' in options
    ]
    (printed,) = [
        body
        for language, options, body in blocks
        if language == "text" and 'title="output"' in options
    ]
    output = _run_python(script)
    assert (
        output.strip() == printed.strip()
    ), f"the page's output block differs from the script's:\n{output}"
    values = {}
    for line in output.splitlines():
        name, _, value = line.partition("=")
        values[name.strip()] = _parse_numbers(value)
    # the table: | `name` | `value` | quantity | by hand |, the answers second, to show
    # on a phone
    page = (DOCS / "backprop.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", page, re.MULTILINE)
    assert {name for name, _ in rows} == set(
        values
    ), "the table and the script name different quantities"
    for name, value in rows:
        assert _parse_numbers(value) == pytest.approx(
            values[name], abs=1e-4
        ), f"table row {name}"


HOMEWORK = DOCS / "homework"


def _error_rates(output: str) -> dict[str, float]:
    return {
        name: float(rate)
        for name, rate in re.findall(r"^(train|test) error: ([\d.]+) %", output, re.M)
    }


@pytest.mark.parametrize("year", ["2021", "2018"])
def test_homework_test_py_uses_from_torch_only_empty_and_what_the_handout_calls(year):
    tree = ast.parse((HOMEWORK / year / "test.py").read_text(encoding="utf-8"))
    imports = sorted(
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
    )
    names = "MSELoss, ReLU, SGD, Dense, Sequential, Sigmoid, accuracy, fit"
    assert imports == [
        f"from minimlp import {names}",
        "from torch import empty",
        "import math",
        "import torch",
    ], imports
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "torch"
    }
    assert used == {
        "set_grad_enabled",
        "manual_seed",
        "set_num_threads",
    }, f"test.py uses torch.{used}"
    page = (DOCS / "homework.md").read_text(encoding="utf-8")
    for name in ("test.py", "output.txt"):
        assert (
            f"<!-- minimlp:include homework/{year}/{name}" in page
        ), f"the page does not show {year}/{name}"


@pytest.mark.slow
@pytest.mark.parametrize("year", ["2021", "2018"])
def test_homework_test_py_runs_beside_minimlp_alone_and_prints_the_page_s_error_rates(
    year, tmp_path
):
    # The file the page shows, in a folder holding only it and minimlp.py, in a fresh
    # interpreter that reads no PYTHON* variable and no user site-packages (-I would
    # also drop the script's own folder from sys.path, so `import minimlp` could not
    # work as it does for a student).
    shutil.copy(SOURCE, tmp_path)
    shutil.copy(HOMEWORK / year / "test.py", tmp_path)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "OMP_"))
    }
    done = subprocess.run(
        [sys.executable, "-E", "-s", "test.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    committed = (HOMEWORK / year / "output.txt").read_text(encoding="utf-8")
    rates, shown = _error_rates(done.stdout), _error_rates(committed)
    assert set(rates) == set(shown) == {"train", "test"}, done.stdout
    assert (
        rates["train"] < 2 and rates["test"] < 5
    ), f"the homework network trains badly: {rates}"
    # the page shows the committed run; a rerun (another torch, minimlp rewritten) may
    # round differently
    assert rates == pytest.approx(shown, abs=0.5), (
        f"rerun: cd to a folder with minimlp.py and docs/homework/{year}/test.py, "
        f"python test.py > docs/homework/{year}/output.txt\n{done.stdout}"
    )
    logged = re.findall(r"^epoch +(\d+) +train loss", done.stdout, re.M)
    assert logged and logged == re.findall(
        r"^epoch +(\d+) +train loss", committed, re.M
    ), "the loss is logged"


def _equivalence(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.strip().splitlines())


@pytest.mark.slow
def test_minimlp_and_torch_end_with_the_same_weights_as_the_pytorch_page_says():
    # docs/pytorch/equivalence.py: the disk net trained by both frameworks from the same
    # weights on the same batches (Adam with weight decay, float64); the page shows the
    # committed output. Run as the page says: `python docs/pytorch/equivalence.py` from
    # the repository root.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "docs/pytorch/equivalence.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rerun = _equivalence(done.stdout)
    committed = _equivalence(
        (DOCS / "pytorch" / "output.txt").read_text(encoding="utf-8")
    )
    assert (
        rerun.keys() == committed.keys() and rerun["steps"] == committed["steps"]
    ), done.stdout
    assert (
        "4800" in committed["steps"]
        and "Adam" in committed["steps"]
        and "weight decay" in committed["steps"]
    )
    # rounding differences grow while training, so a rerun need not repeat the committed
    # digits
    for run in (rerun, committed):
        assert float(run["largest difference between the two"]) <= 1e-9, run
    assert float(rerun["largest weight"]) == pytest.approx(
        float(committed["largest weight"]), abs=0.011
    )
    # the page's PyTorch forms of accuracy give minimlp's accuracy (the script also
    # asserts it)
    for run in (rerun, committed):
        for key in (
            "accuracy, one output (minimlp, torch)",
            "accuracy, argmax of two (minimlp, torch)",
        ):
            ours, theirs = run[key].split(", ")
            assert ours == theirs and float(ours) > 0.9, run
    assert '<!-- minimlp:include pytorch/output.txt' in (DOCS / "pytorch.md").read_text(
        encoding="utf-8"
    )


def _regenerate():
    """docs/regenerate.py as a module."""
    spec = importlib.util.spec_from_file_location("regenerate", DOCS / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_committed_result_was_made_by_the_code_of_today():
    # Each committed figure, table and quoted output records the fingerprint of the code
    # that made it (docs/assets/results/manifest.json); a change of that code since
    # makes it stale.
    regenerate = _regenerate()
    manifest = regenerate.read_manifest()
    stale = [
        regenerate.stale_message(part, reason)
        for part in regenerate.parts()
        if (reason := regenerate.stale(part, manifest=manifest))
    ]
    assert (
        not stale
    ), "stale results (python docs/regenerate.py remakes them all):\n" + "\n".join(
        stale
    )


def _copy_for_fingerprints(regenerate, root: Path) -> None:
    """A copy of what the fingerprints read, with placeholder outputs and a manifest
    of today."""
    for part in regenerate.parts():
        for name in regenerate.dependencies(part) + part.outputs:
            name = name.split("#")[0]
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / name).is_file() and not (root / name).exists():
                shutil.copy(ROOT / name, root / name)
            elif not (
                root / name
            ).exists():  # an output not made yet: a placeholder will do
                (root / name).write_bytes(b"")
    regenerate.write_manifest(regenerate.parts(), root)


def test_a_changed_computing_line_of_minimlp_makes_its_results_stale(tmp_path):
    regenerate = _regenerate()
    _copy_for_fingerprints(regenerate, tmp_path)
    parts = regenerate.parts()
    assert all(regenerate.stale(part, tmp_path) is None for part in parts)
    source_path = tmp_path / "minimlp.py"
    source = source_path.read_text(encoding="utf-8")
    # A comment and a docstring edited: nothing computes differently, every result stays
    # current.
    tree = ast.parse(source)
    relu = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ReLU"
    )
    lines = source.splitlines(keepends=True)
    lines.insert(relu.lineno - 1, "# A comment a reader added.\n")
    edited = "".join(lines).replace('"""', '"""Reworded. ', 1)
    source_path.write_text(edited, encoding="utf-8")
    assert all(regenerate.stale(part, tmp_path) is None for part in parts)
    # A computing line changed (ReLU's backward doubles its gradient): every result that
    # runs minimlp.py is stale, and the message names the file and the command that
    # remakes it.
    backward = next(
        n for n in relu.body if isinstance(n, ast.FunctionDef) and n.name == "backward"
    )
    returned = backward.body[-1]
    assert isinstance(returned, ast.Return), "ReLU.backward ends with its return"
    lines = source.splitlines(keepends=True)
    lines[returned.lineno - 1] = lines[returned.lineno - 1].replace(
        "return ", "return 2 * ", 1
    )
    source_path.write_text("".join(lines), encoding="utf-8")
    stale = {part.name: regenerate.stale(part, tmp_path) for part in parts}
    running_minimlp = [
        part.name for part in parts if "minimlp.py" in regenerate.dependencies(part)
    ]
    assert {"figures", "seeds-mse-1", "equivalence", "worked-example"} <= set(
        running_minimlp
    )
    for name in running_minimlp:
        assert stale[name] and "minimlp.py" in stale[name], (name, stale[name])
    figures = next(part for part in parts if part.name == "figures")
    message = regenerate.stale_message(figures, stale["figures"])
    assert "docs/assets/img/history.png" in message and "--only figures" in message
    assert "train.py --no-live --out docs/assets/img" in message


def test_fingerprints_hash_the_code_without_comments_and_docstrings():
    regenerate = _regenerate()
    plain = "def f(x):\n    return x + 1\n"
    commented = (
        'def f(x):\n    """Add one."""\n    # the equation\n\n    return x + 1  # + 1\n'
    )
    assert regenerate.code_text(commented) == regenerate.code_text(plain) == plain
    assert regenerate.code_text("def f(x):\n    return x + 2\n") != plain
    # a string that is not a docstring is code
    assert "'kept'" in regenerate.code_text("x = 1\ny = 'kept'\n")


def test_a_timing_table_is_compared_as_ratios_within_bounds():
    regenerate = _regenerate()
    table = (DOCS / "performance_table.md").read_text(encoding="utf-8")
    ratios = regenerate.table_ratios(table)
    assert len(ratios) >= 10 and all(0 < r < 10 for r in ratios.values()), ratios
    assert regenerate.compare_ratios(table, table) == []
    case, ratio = next(iter(ratios.items()))
    moved = table.replace(f"| {ratio}", f"| {ratio * 1.5:.3f}", 1)
    assert [m.split(":")[0] for m in regenerate.compare_ratios(table, moved)] == [case]
    performance = next(p for p in regenerate.parts() if p.name == "performance")
    assert performance.timing and performance.outputs == ["docs/performance_table.md"]


def test_a_seeds_table_whose_only_change_is_its_timings_counts_as_unchanged(tmp_path):
    regenerate = _regenerate()
    path = tmp_path / "seeds.json"
    old = json.dumps(
        {"runs": [{"seed": 0, "test_errors": 16, "seconds": 1.9}]}
    ).encode()
    retimed = json.dumps(
        {"runs": [{"seed": 0, "test_errors": 16, "seconds": 2.4}]}
    ).encode()
    changed = json.dumps(
        {"runs": [{"seed": 0, "test_errors": 15, "seconds": 1.9}]}
    ).encode()
    assert regenerate._without_timings(path, old) == regenerate._without_timings(
        path, retimed
    )
    assert regenerate._without_timings(path, old) != regenerate._without_timings(
        path, changed
    )


# ---------------------------------------------------------------------------
# Every command a page shows runs as written, from the repository root
# ---------------------------------------------------------------------------

COMMAND_LINE = re.compile(
    r"^(`{3,})(?:bash|sh|console)\b[^\n]*\n(.*?)^\1$", re.MULTILINE | re.DOTALL
)
INLINE_COMMAND = re.compile(r"(?<!`)`((?:python|mkdocs|cp) [^`]+)`(?!`)")
# Shown but not run here, each for its reason.
NOT_RUN = [
    (r"^python -m venv |^\. ", "creates or activates the reader's virtual environment"),
    (r"^python -m pip ", "installs from the network"),
    (r"^python -m pytest", "the test suite itself"),
    (r"^mkdocs (build|serve)", "the site's own tests build it strictly"),
    (
        r"^python (-E -s )?test\.py$",
        "runs in a homework folder beside minimlp.py: test_homework_test_py_runs_"
        "beside_minimlp_alone_and_prints_the_page_s_error_rates",
    ),
    (
        r"^python docs/pytorch/equivalence\.py$",
        "run as written by test_minimlp_and_torch_end_with_the_same_weights_"
        "as_the_pytorch_page_says (slow)",
    ),
    (r"\[[A-Z]+\]|\s[A-Z]{3,}(\s|$)", "a usage line: FILE or [FILE] is a placeholder"),
]


def _page_commands(page: str) -> list[str]:
    """The commands of a page in page order: each line of its shell blocks (comments
    dropped) and each inline code span that starts with python, mkdocs or cp; `a &&
    b` counts as a and b."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found = []
    for block in COMMAND_LINE.finditer(text):
        for line in block.group(2).splitlines():
            found.append((block.start(), re.sub(r"\s+#.*$", "", line).strip()))
    found += [(m.start(), m.group(1).strip()) for m in INLINE_COMMAND.finditer(text)]
    commands = []
    for _, line in sorted(found):
        commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def _cheap_form(command: str) -> list[str]:
    """The command's words, made cheap without changing what it checks: a training
    runs 20 epochs, the benchmark its --quick smoke test, the regeneration lists its
    parts."""
    words = command.split()
    if words[:2] == ["python", "train.py"] and "--help" not in words:
        words += [
            "--epochs",
            "20",
        ]  # (at 3, a seed of the large early learning rate diverges)
    elif words[:2] == ["python", "bench.py"] and not {"--help", "--quick"} & set(words):
        if "--repeats" in words:  # the smoke test's own few repeats
            at = words.index("--repeats")
            del words[at : at + 2]
        words += ["--quick"]
    elif words[:2] == ["python", "docs/regenerate.py"]:
        words = ["python", "docs/regenerate.py", "--list"]
    return [sys.executable if word == "python" else word for word in words]


def _repository_copy(where: Path) -> Path:
    """The repository's files (tracked, and new ones git does not ignore) in a folder
    of their own."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.strip()}")
    for name in listed.stdout.splitlines():
        if (ROOT / name).is_file():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, where / name)
    return where


COMMAND_PAGES = sorted(p.name for p in DOCS.glob("*.md") if _page_commands(p.name))


@pytest.mark.slow
@pytest.mark.parametrize("page", COMMAND_PAGES)
def test_every_command_a_page_shows_runs_as_written_from_the_repository_root(
    page, tmp_path
):
    # In a copy of the repository, with no PYTHONPATH and no display: as a reader types
    # them, in the page's order (a `cp` before the command that reads its copy).
    root = _repository_copy(tmp_path)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")
    }
    ran = []
    for command in _page_commands(page):
        if any(re.search(pattern, command) for pattern, _ in NOT_RUN):
            continue
        done = subprocess.run(
            _cheap_form(command),
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        # the checker exits with 1 when an exercise fails, which a fresh skeleton's do
        allowed = (0, 1) if command.startswith("python exercises/check.py") else (0,)
        failed = done.returncode not in allowed or "Traceback" in done.stderr
        assert not failed, (
            f"docs/{page}: `{command}` failed from the repository root:\n"
            + done.stderr[-2000:]
        )
        ran.append(command)
    print(f"{page}: ran {ran}")


def test_the_commands_of_the_pages_are_each_run_or_said_why_not():
    # Every command found on a page is either run by the test above or matches a NOT_RUN
    # reason.
    runnable = re.compile(
        r"^(python (train|bench|test_\w+)\.py|python (docs|exercises)/|cp )"
    )
    for page in COMMAND_PAGES:
        for command in _page_commands(page):
            skipped = any(re.search(pattern, command) for pattern, _ in NOT_RUN)
            assert skipped or runnable.match(
                command
            ), f"docs/{page}: no rule for `{command}`"
    assert "python docs/pytorch/equivalence.py" in _page_commands("pytorch.md")


# ---------------------------------------------------------------------------
# The built site, in a browser
# ---------------------------------------------------------------------------


PREFIX = (
    "/minimlp/"  # served under a project path, as GitHub Pages serves a project site
)
WIDE, NARROW = (1280, 800), (400, 800)

# Run in the page (appended by the test server to a page asked for with ?measure): after
# the page's scripts ran, report every element of the content that scrolls or clips
# sideways, and the layout of the annotated page's rows, in a <pre id="measure-report">
# that --dump-dom shows. The columns that hold a table's answers: on a phone they must
# show without scrolling the table.
KEY_COLUMNS = ["value", "test, mean ± std", "test", "difference",
               "minimlp / torch (per-repeat quartiles)",
               "time saved: median (per-repeat quartiles)"]
MEASURE_SCRIPT = """<script>
var KEY_COLUMNS = %s;
window.addEventListener("load", function () { setTimeout(function () {
  var root = document.documentElement, found = [];
  function describe(el) {
    var text = (el.textContent || "").replace(/\\s+/g, " ").trim().slice(0, 70);
    return el.tagName.toLowerCase() + "." + String(el.className).split(" ").join(".") +
      " scrolls " + (el.scrollWidth - el.clientWidth) + "px: " + text;
  }
  document.querySelectorAll(".md-content *").forEach(function (el) {
    var overflow = getComputedStyle(el).overflowX;
    // KaTeX's text for screen readers is hidden by design
    if (el.closest(".katex-mathml")) return;
    if (overflow !== "visible" && el.clientWidth > 0 &&
        el.scrollWidth > el.clientWidth + 1)
      found.push(describe(el));
  });
  if (root.scrollWidth > root.clientWidth + 1)
    found.push("the page itself scrolls sideways");
  var rows = document.querySelectorAll(".annotated-row"), besides = 0;
  rows.forEach(function (row) {
    var prose = row.querySelector(".annotated-prose");
    var code = row.querySelector(".annotated-code");
    if (prose && code &&
        prose.getBoundingClientRect().right <= code.getBoundingClientRect().left)
      besides += 1;
  });
  // Does a line of 88 characters (the longest minimlp.py has) fit the page's code
  // blocks? (Not counting the narrower columns, side by side, by design.)
  function fits88(selector) {
    var blocks = document.querySelectorAll(selector);
    var code = Array.prototype.find.call(blocks, function (el) {
      return !el.closest(".side-by-side, .annotated-prose");
    });
    if (!code) return null;
    var probe = code.cloneNode(false);
    probe.textContent = new Array(89).join("m");
    code.parentNode.appendChild(probe);
    var fits = probe.scrollWidth <= probe.clientWidth;
    probe.remove();
    return fits;
  }
  var header = document.querySelector(".md-header");
  function visible(el) {
    var box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 &&
      getComputedStyle(el).visibility !== "hidden";
  }
  // Display equations wider than their column (they scroll, cut at the screen's edge).
  var displays = document.querySelectorAll(".md-content .katex-display");
  var wideEquations = [];
  displays.forEach(function (el) {
    // the typeset formula's own extent (its glyphs), against the column it sits in
    var range = document.createRange();
    range.selectNodeContents(el.querySelector(".katex-html") || el);
    var formula = range.getBoundingClientRect();
    var column = el.closest(".arithmatex").getBoundingClientRect();
    var scrolls = [el, el.closest(".arithmatex")].map(function (box) {
      return box.scrollWidth - box.clientWidth;
    });
    var excess = Math.max(formula.right - column.right, column.left - formula.left,
                          scrolls[0], scrolls[1]);
    if (excess > 1)
      wideEquations.push(Math.round(excess) + "px: " +
        (el.querySelector("annotation") || el).textContent
          .replace(/\\s+/g, " ").slice(0, 90));
  });
  // Every image of the content: its size in the file and as shown.
  var images = document.querySelectorAll(".md-content img");
  var figures = Array.prototype.map.call(images, function (img) {
    return {src: img.getAttribute("src"), natural: img.naturalWidth,
            shown: img.getBoundingClientRect().width};
  });
  // The key columns of tables: shown without scrolling the table?
  var hiddenKeys = [];
  document.querySelectorAll(".md-content table").forEach(function (table) {
    var wrap = table.closest(".md-typeset__scrollwrap") || table.parentElement;
    table.querySelectorAll("th").forEach(function (th) {
      var name = th.textContent.trim();
      if (KEY_COLUMNS.indexOf(name) >= 0 &&
          th.getBoundingClientRect().right > wrap.getBoundingClientRect().right + 1)
        hiddenKeys.push(name);
    });
  });
  // The navigation: where the link to the last page of the site ends (in sight?).
  var navLinks = document.querySelectorAll(
    ".md-sidebar--primary .md-nav--primary > .md-nav__list > .md-nav__item" +
    " > .md-nav__link");
  var lastNav = navLinks.length ?
    navLinks[navLinks.length - 1].getBoundingClientRect() : null;
  // Code names in tables: a name without spaces on one line (not broken mid-word).
  var brokenNames = [];
  var tableCode = document.querySelectorAll(".md-content td code, .md-content th code");
  tableCode.forEach(function (code) {
    var text = code.textContent;
    if (!/\\s/.test(text) && code.getClientRects().length > 1) brokenNames.push(text);
  });
  // Folded code ("The code: ..."): its size, and the contrast of its comments.
  function rgba(text) {
    var v = (text.match(/[\\d.]+/g) || [0, 0, 0, 0]).map(Number);
    return v.length > 3 ? v : v.concat([1]);
  }
  function luminance(c) {
    return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
    function lin(x) {
      x /= 255;
      return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
    }
  }
  var foldedPx = [], commentContrast = [];
  document.querySelectorAll(".md-content details pre > code").forEach(function (code) {
    var details = code.closest("details"), opened = details.open;
    details.open = true;
    foldedPx.push(parseFloat(getComputedStyle(code).fontSize));
    var comment = code.querySelector(".c1, .c");
    var back = rgba(getComputedStyle(code).backgroundColor);
    if (comment && back[3] > 0) {
      var fg = rgba(getComputedStyle(comment).color), a = fg[3];
      var mixed = [0, 1, 2].map(function (i) { return fg[i] * a + back[i] * (1 - a); });
      var l1 = luminance(mixed), l2 = luminance(back);
      commentContrast.push((Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05));
    }
    details.open = opened;
  });
  // The table of contents: the links to the page's own sections that a reader sees.
  var tocLinks = Array.prototype.filter.call(
    document.querySelectorAll(".md-nav--secondary .md-nav__link"), visible).length;
  var codeBlocks = rows.length ? ".annotated-code pre > code" :
    ".md-content pre > code";
  var report = {width: window.innerWidth, overflowing: found, rows: rows.length,
                rowsSideBySide: besides, codeFits88: fits88(codeBlocks),
                headerPosition: header ? getComputedStyle(header).position : null,
                headerHeight: header ? header.getBoundingClientRect().height : null,
                equations: displays.length, wideEquations: wideEquations,
                figures: figures,
                hiddenKeyColumns: hiddenKeys, tocLinks: tocLinks,
                lastNavBottom: lastNav ? lastNav.bottom : null,
                windowHeight: window.innerHeight, brokenNames: brokenNames,
                foldedCodePx: foldedPx, commentContrast: commentContrast,
                sectionHeadings: document.querySelectorAll(".md-content h2").length,
                scheme: document.body.getAttribute("data-md-color-scheme"),
                tables: document.querySelectorAll(".md-content table").length};
  var out = document.createElement("pre");
  out.id = "measure-report";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
  // in PHONE_FRAME: tell the frame's page
  if (window.parent !== window) window.parent.postMessage(out.textContent, "*");
}, 300); });
</script>""".replace("%s", json.dumps(KEY_COLUMNS))


# Headless Chromium's window is at least 500 px wide: a phone is a frame of its width in
# a page (PREFIX + "__phone__/400/" + page), which shows the frame's measure report in
# its own DOM.
PHONE_FRAME = """<!doctype html><html><body style="margin:0">
<iframe src="%(url)s" style="width:%(width)spx;height:800px;border:0"></iframe>
<script>window.addEventListener("message", function (event) {
  var out = document.createElement("pre");
  out.id = "measure-report";
  out.textContent = event.data;
  document.body.appendChild(out);
});</script></body></html>"""


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """The built site under PREFIX, as GitHub Pages serves it: a missing path gets
    404.html with status 404; an HTML page asked for with ?measure gets
    MEASURE_SCRIPT appended; a page under PREFIX + "__phone__/WIDTH/" is shown,
    measured, in a frame WIDTH px wide."""

    site: Path

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        phone = re.match(re.escape(PREFIX) + r"__phone__/(\d+)/(.*)$", path)
        if phone:
            frame = PHONE_FRAME % {
                "url": html.escape(PREFIX + phone.group(2) + "?measure"),
                "width": phone.group(1),
            }
            body = frame.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        file = self.site / path[len(PREFIX) :] if path.startswith(PREFIX) else None
        if file is not None and file.is_dir():
            file = file / "index.html"
        status = 200
        if (
            file is None
            or not file.is_file()
            or self.site.resolve() not in file.resolve().parents
        ):
            status, file = 404, self.site / "404.html"
        body = file.read_bytes()
        if file.suffix == ".html" and "measure" in url.query:
            body = body.replace(b"</body>", MEASURE_SCRIPT.encode() + b"</body>")
        self.send_response(status)
        self.send_header("Content-Type", self.guess_type(str(file)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def served_site(tmp_path_factory):
    """(base URL, folder) of the site built strictly with SITE_URL set to where it is
    served, as the Pages workflow builds it."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    out = tmp_path_factory.mktemp("site")
    handler = type("Handler", (_SiteHandler,), {"site": out})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    base = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    done = _mkdocs_build(ROOT, out, site_url=base)
    assert (
        done.returncode == 0
    ), f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, out
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def site(served_site):
    return served_site[1]


class _Tags(HTMLParser):
    """Collect the URLs a page loads (script/link/img/source/iframe) and the math
    elements."""

    def __init__(self):
        super().__init__()
        self.loaded: list[str] = []
        self.math = 0  # elements with class arithmatex
        self.typeset = 0  # ... that contain KaTeX output
        self.errors = 0  # KaTeX errors
        self._stack: list[tuple[str, bool]] = (
            []
        )  # (tag, is arithmatex) of the open elements
        self._found = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in (
            ("src", "href")
            if tag in ("script", "img", "source", "iframe", "link")
            else ()
        ):
            if attrs.get(key) and not (
                tag == "link" and attrs.get("rel") in ("canonical", "prev", "next")
            ):
                self.loaded.append(attrs[key])
        classes = (attrs.get("class") or "").split()
        if "katex-error" in classes:
            self.errors += 1
        if "katex" in classes and any(is_math for _, is_math in self._stack):
            self._found = True
        if tag in (
            "br",
            "img",
            "input",
            "meta",
            "link",
            "hr",
            "source",
            "wbr",
            "path",
            "line",
            "rect",
            "use",
        ):
            return
        is_math = "arithmatex" in classes
        if is_math:
            self.math += 1
            self._found = False
        self._stack.append((tag, is_math))

    def handle_endtag(self, tag):
        if not any(open_tag == tag for open_tag, _ in self._stack):
            return  # a void or self-closed element: nothing was pushed
        while self._stack:
            open_tag, is_math = self._stack.pop()
            if is_math and not any(m for _, m in self._stack):
                self.typeset += self._found
            if open_tag == tag:
                break


EXTERNAL = re.compile(r"^(https?:)?//", re.IGNORECASE)


def test_built_site_loads_nothing_from_outside(served_site):
    base, site = served_site
    for page in site.rglob("*.html"):
        parser = _Tags()
        parser.feed(page.read_text(encoding="utf-8"))
        external = [
            url
            for url in parser.loaded
            if EXTERNAL.match(url) and not url.startswith(base)
        ]
        assert not external, f"{page.relative_to(site)} loads {external}"
    for css in list(site.rglob("*.css")):
        urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text(encoding="utf-8"))
        assert not [
            u for u in urls if EXTERNAL.match(u)
        ], f"{css.relative_to(site)} loads from outside"


def test_search_shows_formulas_as_text_not_tex(site):
    # search_text.py rewrites the formulas of the search index in plain Unicode maths.
    index = json.loads(
        (site / "search" / "search_index.json").read_text(encoding="utf-8")
    )
    text = " ".join(doc["text"] for doc in index["docs"])
    for tex in ("\\(", "\\[", "\\frac", "\\partial", "\\ell", "\\mathbf"):
        assert tex not in text, f"the search index still holds {tex}"
    assert "∂ℓ/∂b" in text and "[s &gt; 0]" in text
    search_text = _load_hook("search_text")
    assert search_text.plain(r"\frac{\partial \ell}{\partial w^{(l)}}") == "∂ℓ/∂w^(l)"
    assert (
        search_text.plain(r"w_{ij} \sim \mathcal{N}(0, 1)\cdot\sqrt{2/n_{\text{in}}}")
        == "w_ij ~ N(0, 1)·√(2/n_in)"
    )


def test_the_404_page_loads_its_assets_from_the_project_path(site):
    # GitHub Pages serves 404.html for any missing path, however deep: its links must
    # not be relative (or rooted at the domain), but start at SITE_URL.
    parser = _Tags()
    parser.feed((site / "404.html").read_text(encoding="utf-8"))
    assets = [url for url in parser.loaded if "assets/" in url]
    assert assets and all(url.startswith(PREFIX + "assets/") for url in assets), assets


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(
    url: str, workdir: Path, size: tuple[int, int] = WIDE, dark: bool = False
) -> tuple[str, list[str]]:
    """Load `url` in headless Chromium in a window of `size` (with the system in dark
    mode if `dark`); return the DOM after scripts ran, and the URLs the page
    requested."""
    netlog = workdir / "netlog.json"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--user-data-dir={workdir / 'profile'}",
        f"--log-net-log={netlog}",
        # any name but 127.0.0.1 fails to resolve: the page must work offline
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--window-size={size[0]},{size[1]}",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
        "--dump-dom",
        url,
    ]
    if dark:  # the system's colour scheme, as prefers-color-scheme reports it
        command[1:1] = ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, f"chromium failed on {url}:\n{done.stderr[-2000:]}"
    origin = "/".join(url.split("/", 3)[:3])
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requested = [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start_job
        and event.get("params", {}).get("initiator") == origin
    ]
    return done.stdout, requested


def _measure_report(dom: str) -> dict:
    found = re.search(r'<pre id="measure-report">(.*?)</pre>', dom, re.DOTALL)
    assert found, "the page's measuring script did not run"
    return json.loads(html.unescape(found.group(1)))


def _browse(
    served_site, tmp_path_factory, size: tuple[int, int], pages: list[str]
) -> dict:
    """{page: (DOM, requested URLs, measure report)} of `pages` opened in headless
    Chromium in a window of `size`."""
    if not CHROMIUM:
        pytest.skip("Chromium is not installed: the browser checks of the docs need it")
    base, _ = served_site
    workdirs = tmp_path_factory.mktemp(f"chromium-{size[0]}")

    def visit(page):
        workdir = workdirs / (page.strip("/").replace("/", "-") or "index")
        workdir.mkdir()
        if size[0] < 500:  # narrower than Chromium's window can be: in a frame
            dom, requested = _chromium(
                f"{base}__phone__/{size[0]}/{page}", workdir, (500, size[1])
            )
        else:
            dom, requested = _chromium(f"{base}{page}?measure", workdir, size)
        return page, (dom, requested, _measure_report(dom))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(visit, pages))


@pytest.fixture(scope="module")
def browsed(served_site, tmp_path_factory):
    """Every page, and a missing deep URL, at 1280x800, a laptop screen."""
    return _browse(served_site, tmp_path_factory, WIDE, _nav_pages() + [MISSING_PAGE])


@pytest.fixture(scope="module")
def browsed_narrow(served_site, tmp_path_factory):
    """Every page at 400x800, a phone."""
    return _browse(served_site, tmp_path_factory, NARROW, _nav_pages())


MISSING_PAGE = "a/missing/page/"


@pytest.mark.slow
def test_every_page_typesets_its_math_offline_in_chromium(browsed, served_site):
    base, _ = served_site
    counts = {}
    for page in _nav_pages():
        dom, requested, _ = browsed[page]
        parser = _Tags()
        parser.feed(dom)
        counts[page.strip("/") or "index"] = parser.math
        assert "md-content" in dom, f"/{page} did not render"
        assert parser.errors == 0, f"/{page}: {parser.errors} KaTeX errors"
        untypeset = parser.math - parser.typeset
        assert not untypeset, (
            f"/{page}: {untypeset} of {parser.math} formulas not typeset")
        outside = [url for url in requested if not url.startswith(base)]
        assert not outside, f"/{page} requested {outside}"
        assert (
            any(url.endswith(".woff2") for url in requested) or parser.math == 0
        ), f"/{page}: no KaTeX font loaded"
    print("math elements typeset per page:", counts)
    assert counts["backprop"] > 50  # the page that is mostly math


@pytest.mark.slow
def test_nothing_scrolls_sideways_on_a_1280_px_laptop_screen(browsed):
    # Every code block, table wrapper and display equation of every page fits a 1280x800
    # window: nothing scrolls or is clipped sideways (on a narrow phone they may scroll;
    # that is fine).
    scrolling = {}
    for page in _nav_pages():
        report = browsed[page][2]
        assert (
            report["width"] == WIDE[0]
        ), f"/{page}: the window is {report['width']} px wide"
        if report["overflowing"]:
            scrolling[page or "index"] = report["overflowing"]
    assert not scrolling, "blocks that scroll sideways at 1280 px:\n" + json.dumps(
        scrolling, indent=1
    )


@pytest.mark.slow
def test_the_annotated_page_reads_side_by_side_at_1280_px(browsed):
    report = browsed["annotated/"][2]
    apart = report["rows"] - report["rowsSideBySide"]
    assert report["rows"] > 50 and apart == 0, (
        f"{apart} of {report['rows']} rows are not side by side")
    fits = report["codeFits88"]
    assert fits, "an 88-character line of minimlp.py does not fit the code column"
    for page in _nav_pages():  # and on the other pages, beside both sidebars
        assert browsed[page][2]["codeFits88"] in (
            True,
            None,
        ), f"/{page}: an 88-character line does not fit"


@pytest.mark.slow
def test_every_page_of_the_site_is_in_sight_in_the_navigation_at_1280x800(browsed):
    # The page list and the open page's table of contents fit a laptop's window: the
    # link to the last page shows without scrolling the sidebar, on every page (the
    # longest TOC included). (Headless Chromium's 1280x800 window leaves about 660 px
    # inside, as a browser does.)
    hidden = {
        page
        or "index": (
            round(browsed[page][2]["lastNavBottom"]),
            browsed[page][2]["windowHeight"],
        )
        for page in _nav_pages()
        if browsed[page][2]["lastNavBottom"] > browsed[page][2]["windowHeight"]
    }
    assert (
        not hidden
    ), f"the last page's link (bottom, window height) is below the fold: {hidden}"


@pytest.mark.slow
def test_code_in_tables_and_folded_boxes_reads_whole_and_at_full_size(
    browsed, browsed_narrow
):
    # A code name in a table is never broken mid-word, at 1280 or on a 400 px phone;
    # folded code is the size of every code block (at least 13 px) and its comments,
    # which carry the equations, have more than AA's 4.5:1 contrast.
    for report_of, width in ((browsed, 1280), (browsed_narrow, 400)):
        broken = {
            page: report_of[page][2]["brokenNames"]
            for page in _nav_pages()
            if report_of[page][2]["brokenNames"]
        }
        assert not broken, f"code names broken across lines at {width} px: {broken}"
    sizes = [px for page in _nav_pages() for px in browsed[page][2]["foldedCodePx"]]
    contrasts = [
        c for page in _nav_pages() for c in browsed[page][2]["commentContrast"]
    ]
    assert sizes and min(sizes) >= 13, f"folded code at {min(sizes)} px"
    assert (
        contrasts and min(contrasts) > 4.5 + 0.5
    ), f"comments at {min(contrasts):.2f}:1"


@pytest.mark.slow
def test_the_404_page_of_a_missing_deep_url_is_styled(browsed, served_site):
    base, _ = served_site
    dom, requested, report = browsed[MISSING_PAGE]
    assert (
        "404" in dom
        and report["headerPosition"] == "sticky"
        and report["headerHeight"] < 80
    ), f"the 404 page at {base}{MISSING_PAGE} lost its styles: {report}"
    assert any(
        url.startswith(base + "assets/stylesheets/") for url in requested
    ), requested


@pytest.mark.slow
def test_no_display_equation_is_wider_than_its_column_on_a_400_px_phone(browsed_narrow):
    # Measured on the typeset formula itself (its glyphs, and any scrolling of its box):
    # a phone shows every display equation whole, split or aligned where one line would
    # not fit.
    wide = {}
    for page in _nav_pages():
        report = browsed_narrow[page][2]
        assert (
            report["width"] == NARROW[0]
        ), f"/{page}: the frame is {report['width']} px wide"
        if report["wideEquations"]:
            wide[page] = report["wideEquations"]
    assert not wide, "display equations wider than a 400 px phone:\n" + json.dumps(
        wide, indent=1
    )
    assert (
        browsed_narrow["backprop/"][2]["equations"] > 15
    )  # the page that is mostly math was measured


@pytest.mark.slow
def test_the_key_column_of_every_table_shows_on_a_400_px_phone(browsed_narrow):
    # A wide table scrolls on a phone; the column that holds its answers (the worked
    # example's values, the results' test accuracy) comes early enough to show before it
    # does.
    hidden = {
        page: browsed_narrow[page][2]["hiddenKeyColumns"]
        for page in _nav_pages()
        if browsed_narrow[page][2]["hiddenKeyColumns"]
    }
    assert not hidden, f"key columns cut off at 400 px: {hidden}"
    assert (
        browsed_narrow["backprop/"][2]["tables"]
        and browsed_narrow["experiment/"][2]["tables"]
    )


@pytest.mark.slow
def test_every_still_figure_is_served_at_1_5x_its_shown_width_at_1280_px(browsed):
    # Sharp on a high-density laptop screen: at least 1.5 image pixels per CSS pixel
    # (the animated GIF may stay at 1x).
    still = [
        (page, figure)
        for page in _nav_pages()
        for figure in browsed[page][2]["figures"]
        if not figure["src"].lower().endswith(".gif")
    ]
    assert len(still) >= 3, still  # the home page's figure and the experiment's two
    soft = [
        f"/{page}: {f['src']} has {f['natural']} px shown at {f['shown']:.0f} px"
        for page, f in still
        if f["natural"] < 1.5 * f["shown"] or f["shown"] < 300
    ]
    assert not soft, (
        "figures under 1.5x (rerun: python train.py --out docs/assets/img):\n"
        + "\n".join(soft)
    )


@pytest.mark.slow
def test_the_annotated_page_has_its_sections_and_a_visible_table_of_contents(browsed):
    report = browsed["annotated/"][2]
    assert report["sectionHeadings"] >= 6, report["sectionHeadings"]
    # the table of contents lists the sections, visible beside the page at 1280 px
    assert report["tocLinks"] >= report["sectionHeadings"], report["tocLinks"]


@pytest.mark.slow
def test_the_colours_follow_the_system_until_the_reader_picks_one(
    served_site, tmp_path
):
    # A first visit gets the system's scheme, light or dark (the palette's first entry
    # follows prefers-color-scheme); the toggle then cycles light, dark, system.
    if not CHROMIUM:
        pytest.skip("Chromium is not installed: the browser checks of the docs need it")
    base, _ = served_site
    schemes = {}
    for dark in (False, True):
        workdir = tmp_path / f"dark-{dark}"
        workdir.mkdir()
        dom, _ = _chromium(f"{base}?measure", workdir, dark=dark)
        schemes[dark] = _measure_report(dom)["scheme"]
    assert schemes == {False: "default", True: "slate"}, schemes
    palette = _mkdocs_config()["theme"]["palette"]
    assert (
        palette[0]["media"] == "(prefers-color-scheme)" and "scheme" not in palette[0]
    ), palette[0]


# ---------------------------------------------------------------------------
# Slips a reader found, pinned
# ---------------------------------------------------------------------------


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_the_pytorch_page_maps_accuracy_for_one_output_as_its_run_checks():
    page = _page("pytorch.md")
    # one output (the disk network): the class is 1 where the output is >= 0.5; argmax
    # only for several
    assert "`((prediction >= 0.5) == (target >= 0.5)).float().mean()`" in page
    assert "several outputs | `(prediction.argmax(1) == target).float().mean()`" in page
    script = (DOCS / "pytorch" / "equivalence.py").read_text(encoding="utf-8")
    assert "((prediction >= 0.5) == (y >= 0.5)).float().mean()" in script
    assert "(two_columns.argmax(1) == classes).float().mean()" in script
    for slip in (
        "Sigmoid written another way",
        "readability rewrite",
        "Left minimlp, right PyTorch",
    ):
        assert slip not in page, slip


def test_the_pages_say_what_the_code_computes():
    backprop = _page("backprop.md")
    # the textbook forms of minimlp.py (ReLU's mask, Sigmoid's formula, SGD's update),
    # not speed idioms
    for idiom in ("sign(x)", "mathrm{sign}", "s.sigmoid()", "add_(", "alpha="):
        assert idiom not in backprop, idiom
    assert (
        "`grad_output * (x > 0)`" in backprop and "`1 / (1 + (-s).exp())`" in backprop
    )
    assert "`w -= lr * v`" in backprop
    # y is the target: Dropout's output is not y; cross-entropy in the code's names
    # (logits s, p)
    assert (
        "\\partial y} \\odot m" not in backprop
        and "z_n" not in backprop
        and "(z)" not in backprop
    )
    # the MSE target is read through `view`, as MSELoss does
    homework = _page("homework.md")
    assert "through `view`" in homework and "new view with `reshape`" not in homework
    assert "`Linear` is `Dense`" in homework
    # one transpose sign and one epsilon on the typeset pages
    for name in (
        "index.md",
        "backprop.md",
        "homework.md",
        "pytorch.md",
        "experiment.md",
        "annotated.md",
    ):
        text = _page(name)
        assert not re.search(r"\^T\b|\^\{T\}|\\intercal|\\epsilon\b|ϵ", text), name


def test_home_says_how_its_figure_is_made_and_the_test_points_once():
    page = _page("index.md")
    assert (
        "`python docs/regenerate.py --only figures`" in page
        and "Regenerate with `python train.py`." not in page
    )
    # the headline already says "1,000 fresh test points per seed"
    assert "fresh test points" not in page


def test_the_homework_import_check_prints_one_torch_import():
    (code,) = [
        body
        for language, options, body in _fenced_blocks("homework.md")
        if language == "python" and "ast.parse(open(\"minimlp.py\")" in body
    ]
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    from_torch = [line for line in done.stdout.splitlines() if "torch" in line]
    assert from_torch == ["from torch import empty"], done.stdout


def test_a_figure_saved_at_200_dpi_is_shown_at_its_print_size(tmp_path):
    # figures.py: width in pixels x 96 / dpi, from the PNG's pHYs chunk: 2.1 image
    # pixels per CSS pixel for matplotlib's savefig(dpi=200), and a link to the
    # full-size image.
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = _load_hook("figures")
    figure = plt.figure(figsize=(7, 5))
    figure.savefig(tmp_path / "f.png", dpi=200)
    plt.close(figure)
    width, height, dpi = figures.png_size(tmp_path / "f.png")
    assert (width, height) == (1400, 1000) and dpi == pytest.approx(200, abs=0.01)
    assert figures.css_width(tmp_path / "f.png") == 672  # 7 inches
    markdown = figures.render(
        "![A figure](f.png)\n\n![An animation](a.gif)\n", tmp_path
    )
    assert (
        markdown
        == '[![A figure](f.png){ width="672" }](f.png)\n\n![An animation](a.gif)\n'
    )
    # a GIF (no density recorded) is shown at most 540 px wide: one drawn 1080 wide is
    # sharp on a phone
    from PIL import Image

    Image.new("RGB", (1080, 1300), "white").save(tmp_path / "a.gif")
    assert figures.css_width(tmp_path / "a.gif") == 540
    Image.new("RGB", (400, 480), "white").save(tmp_path / "a.gif")
    assert figures.css_width(tmp_path / "a.gif") == 400
