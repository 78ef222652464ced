"""MkDocs hook: the search shows maths as text, not as TeX.

The pages' formulas are TeX that KaTeX typesets in the browser; the search index holds
the page text as written, so a result would show `\\(\\partial\\ell/\\partial b\\)`.
After the build (and the search plugin) wrote search/search_index.json, each formula of
its text is rewritten in the plain Unicode maths of minimlp.py's comments: `∂ℓ/∂b`,
`s^(l) = w^(l) x^(l−1) + b^(l)`, `[s > 0]`. Standard library only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

FORMULA = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
SYMBOLS = {
    "partial": "∂", "ell": "ℓ", "odot": "⊙", "top": "⊤", "sigma": "σ", "eta": "η",
    "mu": "μ", "lambda": "λ", "varepsilon": "ε", "epsilon": "ε", "theta": "θ",
    "beta": "β", "delta": "δ", "pi": "π", "sum": "Σ", "in": "∈", "times": "×",
    "to": "→", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "cdot": "·",
    "sim": "~",
    "leftarrow": "←", "infty": "∞", "nabla": "∇", "langle": "⟨", "rangle": "⟩",
    "dots": "…", "ldots": "…", "cdots": "⋯", "approx": "≈", "mid": "|", "quad": " ",
    "qquad": " ",
}
DROPPED = ("mathcal", "mathbb", "mathbf", "mathrm", "text", "operatorname", "hat",
           "bar", "mathrel", "displaystyle", "textstyle", "bigg", "Bigg", "big", "Big",
           "left", "right")
FRACTION = re.compile(r"\\[dt]?frac\s*(\{[^{}]*\}|\w)\s*(\{[^{}]*\}|\w)")
SQRT = re.compile(r"\\sqrt\s*\{([^{}]*)\}")
SCRIPT = re.compile(r"([\^_])\{([^{}]*)\}")  # x^{...}, n_{...}


def _group(text: str) -> str:
    """A part of a fraction, an index or an exponent: in brackets unless it is short."""
    text = text[1:-1] if text.startswith("{") else text
    short = re.fullmatch(r"[^\s()+\-−=,/]{1,3}|∂[^\s+\-−=,/]+|\([^()]*\)", text)
    return text if short else f"({text})"


def plain(tex: str) -> str:
    """A TeX formula in plain Unicode text."""
    text = re.sub(r"\\(?:begin|end)\{\w+\}", "", tex)
    text = re.sub(r",?\s*\\\\", ", ", text)
    text = re.sub(r"&(?!\w+;|#\d+;)", "", text)  # alignment marks, not the text's &gt;
    text = re.sub(r"\\[,;:! ]", " ", text)
    text = text.replace("\\mathbb{R}", "ℝ").replace("\\mathbf{1}", "𝟏")
    for _ in range(3):  # \text{in} -> in, \mathcal{N} -> N
        text = re.sub(r"\\(?:" + "|".join(DROPPED) + r")\s*\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\(?:" + "|".join(DROPPED) + r")\b", "", text)
    symbol = r"\\(?!d?t?frac|sqrt)([A-Za-z]+)"
    text = re.sub(symbol, lambda m: SYMBOLS.get(m.group(1), m.group(1)), text)
    text = re.sub(r"([∂∇]) +", r"\1", text)
    for _ in range(6):  # nested groups, innermost first
        text = SCRIPT.sub(lambda m: m.group(1) + _group(m.group(2)), text)
        text = FRACTION.sub(lambda m: _group(m.group(1)) + "/" + _group(m.group(2)),
                            text)
        text = SQRT.sub(lambda m: f"√({m.group(1)})", text)
    text = text.replace("{", "").replace("}", "").replace("-", "−")
    return re.sub(r"\s+", " ", text).strip()


def rewrite(text: str) -> str:
    return FORMULA.sub(lambda m: plain(m.group(1) or m.group(2)), text)


def on_post_build(config, **kwargs) -> None:
    index = Path(config.site_dir) / "search" / "search_index.json"
    if not index.is_file():
        return
    data = json.loads(index.read_text(encoding="utf-8"))
    for doc in data.get("docs", []):
        for key in ("title", "text"):
            if key in doc:
                doc[key] = rewrite(doc[key])
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    index.write_text(text, encoding="utf-8")
