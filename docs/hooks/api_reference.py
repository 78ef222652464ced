"""MkDocs hook: the API reference, generated from minimlp.py at build time (so it cannot
drift).

Reads minimlp.py with ``ast`` (it is never imported: building the docs needs no torch).
The public names are ``__all__`` when the file defines it, else every top-level class
and function whose name does not start with ``_``, and before the first class that
derives from it, every base class of a public class that the file defines (such as the
optimizers' shared `Optimizer`), so that a "Base class:" line always points to a section
of the page. For each: its signature as written in the source, its docstring (Markdown),
and for a class its public methods (its own, and those of an undocumented base such as
the optimizers' shared `Optimizer`), each with its signature and docstring if it has
one.

The page ``api.md`` holds the marker line ``<!-- minimlp:api-reference -->``, replaced
by Markdown.
"""

from __future__ import annotations

import ast

# The annotated page's typesetting of Unicode super/subscripts (x⁽ˡ⁾ -> x<sup>(l)</sup>,
# wᵀ -> w<sup>⊤</sup>), so that the two generated pages write the maths alike.
import annotated_source as _annotated
from hook_helpers import SOURCE_NAME, replace_placeholder

PLACEHOLDER = "<!-- minimlp:api-reference -->"
SHOWN_DUNDERS = {"__call__"}


def _parameter(arg: ast.arg, default: ast.expr | None, prefix: str = "") -> str:
    text = prefix + arg.arg
    if arg.annotation is not None:
        text += ": " + ast.unparse(arg.annotation)
    if default is not None:
        text += (" = " if arg.annotation is not None else "=") + ast.unparse(default)
    return text


def format_arguments(args: ast.arguments, drop_self: bool) -> str:
    """`ast.arguments` -> 'a: int, b=2, *rest, c=None' (as written in the source, PEP
    8 spacing)."""
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parts = [_parameter(a, d) for a, d in zip(positional, defaults)]
    if args.posonlyargs:
        parts.insert(len(args.posonlyargs), "/")
    if drop_self and positional and positional[0].arg in ("self", "cls"):
        parts.pop(0)
    if args.vararg is not None:
        parts.append(_parameter(args.vararg, None, "*"))
    elif args.kwonlyargs:
        parts.append("*")
    parts += [_parameter(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg is not None:
        parts.append(_parameter(args.kwarg, None, "**"))
    return ", ".join(parts)


def _signature(name: str, function: ast.FunctionDef | None, is_method: bool) -> str:
    """'name(a: int, b=2) -> T'; one parameter per line when that is too long for one
    line."""
    arguments = (
        format_arguments(function.args, drop_self=is_method)
        if function is not None
        else ""
    )
    returns = ""
    if (
        function is not None
        and function.returns is not None
        and function.name != "__init__"
    ):
        returns = " -> " + ast.unparse(function.returns)
    text = f"{name}({arguments}){returns}"
    if len("class " + text) > 88 and arguments:  # shown after `class ` or `def `
        parameters = arguments.split(
            ", "
        )  # fine for the defaults minimlp uses (no commas inside)
        text = f"{name}(\n" + "".join(f"    {p},\n" for p in parameters) + f"){returns}"
    return text


def _public_names(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    return [
        n.name
        for n in tree.body
        if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and not n.name.startswith("_")
    ]


def _methods(cls: ast.ClassDef) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}


def _bases(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> list[ast.ClassDef]:
    """The class and its chain of bases defined in the file, nearest first."""
    chain, seen = [], set()
    while cls is not None and cls.name not in seen:
        seen.add(cls.name)
        chain.append(cls)
        bases = [b.id for b in cls.bases if isinstance(b, ast.Name) and b.id in classes]
        cls = classes[bases[0]] if bases else None
    return chain


def _init_of(
    cls: ast.ClassDef, classes: dict[str, ast.ClassDef]
) -> ast.FunctionDef | None:
    """The __init__ a class runs: its own, or the nearest one up its chain of bases."""
    for owner in _bases(cls, classes):
        if "__init__" in _methods(owner):
            return _methods(owner)["__init__"]
    return None


def _public_methods(cls, classes, public) -> dict[str, ast.FunctionDef]:
    """Public methods of a class: its own, and those inherited from a base that is
    not itself documented here (e.g. an internal shared base). Methods of a
    documented base are shown there."""
    methods: dict[str, ast.FunctionDef] = {}
    for owner in _bases(cls, classes):
        if owner is not cls and owner.name in public:
            break
        for name, method in _methods(owner).items():
            if (
                not name.startswith("_") or name in SHOWN_DUNDERS
            ) and name not in methods:
                methods[name] = method
    return methods


def docstring_markdown(text: str) -> str:
    """A docstring as Markdown: a run of `>>>` lines and their output (up to a blank
    line) is a pycon code block, not a nested blockquote; super/subscripts in the
    text are set as on the annotated page (indented code is left as it is)."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i].strip())
                i += 1
            out += ["", "```pycon", *block, "```", ""]
        else:
            line = lines[i]
            out.append(line if line.startswith("    ") else _annotated._inline(line))
            i += 1
    return "\n".join(out).strip()


def _docstring(node) -> str:
    return (
        docstring_markdown(ast.get_docstring(node, clean=True) or "")
        or "*(no docstring)*"
    )


def _code(signature: str, prefix: str = "") -> str:
    block = f"```python\n{prefix}{signature}\n```"
    return f'<div class="api-signature" markdown>\n\n{block}\n\n</div>\n'


def _with_bases(public: list[str], classes: dict[str, ast.ClassDef]) -> list[str]:
    """The public names, each public class preceded by those of its bases (defined in
    the file) that are not listed yet."""
    names: list[str] = []
    for name in public:
        if name in classes:
            for base in reversed(_bases(classes[name], classes)[1:]):
                if base.name not in names and base.name not in public:
                    names.append(base.name)
        names.append(name)
    return names


def _sections(source: str) -> list[tuple[int, str]]:
    """(line, heading) of each section of the file: the text under each opening `#
    ----` rule."""
    lines = source.splitlines()
    found, in_banner = [], False
    for number, line in enumerate(lines, start=1):
        if _annotated.SECTION_RULE.match(line):
            in_banner = not in_banner
            if in_banner and number < len(lines):
                found.append((number, lines[number].lstrip("#").strip()))
    return found


def _section_of(node: ast.AST, sections: list[tuple[int, str]]) -> str | None:
    before = [heading for line, heading in sections if line < node.lineno]
    return before[-1] if before else None


def render_markdown(source: str) -> str:
    """The page: a heading per section of the file (the table of contents lists
    these), and under it a smaller heading per public name of that section."""
    tree = ast.parse(source)
    sections = _sections(source)
    nodes = {
        n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))
    }
    nodes.update(
        {
            t.id: n
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
    )
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    # `Linear = Dense`: a second name of a class or function of the file
    aliases = {
        target.id: n.value.id
        for n in tree.body
        if isinstance(n, ast.Assign)
        and isinstance(n.value, ast.Name)
        and (n.value.id in classes or n.value.id in functions)
        for target in n.targets
        if isinstance(target, ast.Name)
    }
    public = _with_bases(_public_names(tree), classes)
    parts, current = [], None
    for name in public:
        section = _section_of(nodes[name], sections) if name in nodes else None
        if section and section != current:
            parts.append(f"## {_annotated._inline(section)}\n")
            current = section
        if name in classes:
            cls = classes[name]
            bases = ", ".join(ast.unparse(b) for b in cls.bases)
            signature = _signature(name, _init_of(cls, classes), is_method=True)
            text = f"### `{name}`\n\n" + _code(signature, "class ")
            if bases:
                text += f"\n*Base class:* `{bases}`\n"
            text += "\n" + _docstring(cls) + "\n"
            for method_name, method in _public_methods(cls, classes, public).items():
                doc = ast.get_docstring(method, clean=True)
                text += (
                    '\n<div class="api-method" markdown>\n\n'
                    + _code(_signature(method_name, method, is_method=True), "def ")
                    + (f"\n{docstring_markdown(doc)}\n" if doc else "")
                    + "\n</div>\n"
                )
            parts.append(text)
        elif name in functions:
            parts.append(
                f"### `{name}`\n\n"
                + _code(_signature(name, functions[name], is_method=False), "def ")
                + "\n"
                + _docstring(functions[name])
                + "\n"
            )
        elif name in aliases:
            original = aliases[name]
            parts.append(
                f"### `{name}`\n\nAnother name of [`{original}`](#{original.lower()}): "
                f"`{name} is {original}`, the same object.\n"
            )
        else:
            raise ValueError(
                f"{SOURCE_NAME}: public name {name!r} is neither a top-level class "
                "nor a function"
            )
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    return replace_placeholder(markdown, PLACEHOLDER, config, render_markdown)
