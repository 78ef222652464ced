"""MkDocs hook: each PNG figure of a page is shown at its size in print, and links to
itself.

A figure saved by matplotlib at `dpi` dots per inch records that density in the PNG (its
pHYs chunk). Shown at its size in inches times 96 CSS pixels, a figure saved at 200 dpi
has 200 / 96 = 2.1 image pixels per CSS pixel: sharp on a high-density screen, and its
text has the size the figure was drawn for (a 10 pt legend reads as about 13 px text,
whatever the dpi). On a narrower screen the figure shrinks with the column (Material's
`max-width: 100%`); the link opens the full-size image, for a closer look at a legend on
a phone.

A Markdown image `![alt](assets/img/x.png)` of a page becomes
`[![alt](assets/img/x.png){ width="W" }](assets/img/x.png)`, where W is the CSS width:
the image's width in pixels times 96 / its dpi (96 when the PNG records none: shown at 1
pixel per CSS pixel). A GIF records no density: it is shown at most GIF_WIDTH CSS pixels
wide, so that a GIF drawn at twice that width is sharp on high-density screens, a
phone's included (a narrower GIF is shown at its own width). Standard library only.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

IMAGE = re.compile(
    r"(?<!\[)!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+\.(?:png|gif))\)(?!\{)"
)
CSS_PIXELS_PER_INCH = 96
GIF_WIDTH = 540  # the training GIF's width on a laptop (5.4 inches at 100 dpi)


def png_size(path: Path) -> tuple[int, int, float | None]:
    """(width, height, dots per inch or None) of a PNG file, from its IHDR and pHYs
    chunks."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    dpi = None
    position = 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind == b"pHYs":
            per_x, _, unit = struct.unpack(">IIB", data[position + 8 : position + 17])
            if unit == 1:  # pixels per metre
                dpi = per_x * 0.0254
        if kind in (b"IDAT", b"IEND"):
            break
        position += 12 + length
    return width, height, dpi


def gif_width(path: Path) -> int:
    """The width of a GIF in pixels (its logical screen)."""
    data = path.read_bytes()
    if data[:4] != b"GIF8":
        raise ValueError(f"{path} is not a GIF file")
    return struct.unpack("<H", data[6:8])[0]


def css_width(path: Path) -> int:
    """The width at which the page shows the image: a PNG's size in print, in CSS
    pixels; a GIF at most GIF_WIDTH."""
    if path.suffix.lower() == ".gif":
        return min(gif_width(path), GIF_WIDTH)
    width, _, dpi = png_size(path)
    return round(width * CSS_PIXELS_PER_INCH / (dpi or CSS_PIXELS_PER_INCH))


def render(markdown: str, page_dir: Path) -> str:
    def replace(match: re.Match) -> str:
        src = match.group("src")
        path = (page_dir / src).resolve()
        if not path.is_file():
            return match.group(0)  # mkdocs --strict reports the missing file itself
        return f'[![{match.group("alt")}]({src}){{ width="{css_width(path)}" }}]({src})'

    return IMAGE.sub(replace, markdown)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    page_dir = (Path(config.docs_dir) / page.file.src_uri).parent
    return render(markdown, page_dir)
