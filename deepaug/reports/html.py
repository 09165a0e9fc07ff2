"""summary.md as one self-contained HTML page: the figures embedded as base64 PNG, the style
inline, nothing fetched (no external files, no network), so report.html can be mailed or
opened from any folder or bucket on its own.

`markdown_html` converts the markdown the report writes (headings, lists, tables, code
blocks, bold, images); it is not a general markdown converter.

>>> "<h1>Run</h1>" in markdown_html("# Run\\n", {})
True
"""
from __future__ import annotations

import base64
import html
import re
from typing import Mapping

STYLE = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.25em .5em}"
         "td.num{text-align:right}pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}"
         "img{max-width:100%;display:block;margin:.5em 0}")
IMAGE = re.compile(r"^!\[(?P<title>[^\]]*)\]\((?P<file>[^)]+)\)$")


def _inline(text: str) -> str:
    """Escaped text with **bold** and `code`."""
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _table(rows: list[str]) -> str:
    """A markdown table (header, alignment row, body) as HTML."""
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
    right = [c.endswith(":") for c in cells[1]] if len(cells) > 1 else []
    head = "".join(f"<th>{_inline(c)}</th>" for c in cells[0])
    align = [' class="num"' if flag else "" for flag in right]
    body = "".join("<tr>" + "".join(f"<td{align[i] if i < len(align) else ''}>{_inline(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in cells[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(title: str, file: str, images: Mapping[str, bytes]) -> str:
    """<figure> with the PNG embedded; the file's name where it was not given."""
    if file not in images:
        return f"<p>{_inline(title)}: {html.escape(file)} (not embedded)</p>"
    data = base64.b64encode(images[file]).decode("ascii")
    return (f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_inline(title)}</figcaption></figure>")


def markdown_html(markdown: str, images: Mapping[str, bytes]) -> str:
    """The HTML body of the report's markdown; `images` maps an image's file name to its PNG bytes."""
    out: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
            out.append("<pre>" + html.escape("\n".join(lines[i + 1:end])) + "</pre>")
            i = end + 1
            continue
        if line.startswith("|"):
            end = next((j for j in range(i, len(lines)) if not lines[j].startswith("|")), len(lines))
            out.append(_table(lines[i:end]))
            i = end
            continue
        if line.startswith("- "):
            end = next((j for j in range(i, len(lines)) if not lines[j].startswith("- ")), len(lines))
            out.append("<ul>" + "".join(f"<li>{_inline(item[2:])}</li>" for item in lines[i:end]) + "</ul>")
            i = end
            continue
        heading = re.match(r"^(#{1,6}) (.*)$", line)
        image = IMAGE.match(line)
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif image:
            out.append(_image(image.group("title"), image.group("file"), images))
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def report_html(title: str, markdown: str, images: Mapping[str, bytes]) -> str:
    """The whole page: report.html (module docstring)."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{markdown_html(markdown, images)}\n</body></html>\n")
