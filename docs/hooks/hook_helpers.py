"""What the docs hooks share: where minimlp.py is, where a definition starts, and a
fence for a code block.

Not a hook itself (mkdocs.yml does not list it): the hooks import it by name, since
mkdocs puts the folder of a hook on ``sys.path`` while it loads the hook. Standard
library only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SOURCE_NAME = "minimlp.py"


def source_path(config) -> Path:
    """minimlp.py, beside mkdocs.yml."""
    return Path(config.config_file_path).resolve().parent / SOURCE_NAME


def read_source(config) -> str:
    return source_path(config).read_text(encoding="utf-8")


def first_line(node: ast.AST) -> int:
    """The first line of a definition, its decorators included."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def fence(code: str) -> str:
    """A run of backticks longer than any in `code`, and at least three: a fence that
    `code` cannot close."""
    longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def replace_placeholder(markdown: str, placeholder: str, config, render) -> str:
    """The page with its placeholder line replaced by render(source of minimlp.py)."""
    if placeholder not in markdown:
        return markdown
    return markdown.replace(placeholder, render(read_source(config)))


def watch_source(server, config):
    """`mkdocs serve` rebuilds when minimlp.py changes, not only when docs/ does."""
    server.watch(str(source_path(config)))
    return server
