"""The page of ``lstmkit explore``: one self-contained HTML file (its CSS, JavaScript and
data inline; no library, no network), built from ``explore_page/`` and the runs of
:func:`lstmkit.apps.explore.explore`.

The same page serves both uses: ``live=True`` (served by ``lstmkit explore``, it asks its
server for new runs) and ``live=False`` (``--export page.html``: every cell choice it
offers was run when the file was written).

Example:
    >>> from lstmkit.apps.explore import explore, variant_subject
    >>> page = render_page({"": explore(variant_subject("vanilla", hidden_size=2))})
    >>> page.startswith("<!DOCTYPE html>"), "http" in page.split("<script")[0].replace("http://www.w3.org", "")
    (True, False)
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["render_page", "PAGE_DIR"]

PAGE_DIR = Path(__file__).resolve().parent / "explore_page"
"""The page's vendored files: page.html, page.css, page.js."""


def _json_for_script(obj) -> str:
    """JSON that is safe inside a <script> element ("</" cannot close it)."""
    text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def page_data(runs: dict, initial: str = "", live: bool = False) -> str:
    """The page's data as the JSON text its ``explore-data`` element holds.

    Raises:
        ValueError: ``initial`` is not a key of ``runs``, or a value is not finite.
    """
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty table of cell choice -> run")
    if initial not in runs:
        raise ValueError(f"initial must be one of the runs' keys {sorted(runs)}, got {initial!r}")
    try:
        return _json_for_script({"live": bool(live), "initial": initial, "runs": runs})
    except ValueError:
        raise ValueError("a run holds values that are not finite numbers (inf or nan): the weights make the "
                         "cell overflow") from None


def render_page(runs: dict, initial: str = "", live: bool = False) -> str:
    """The whole page as one HTML string.

    Args:
        runs: cell choice -> run (``""``: the subject itself; other keys: the variant
            switcher's names, each :func:`lstmkit.apps.explore.explore` of that cell).
        initial: the run shown first.
        live: the page talks to the ``lstmkit explore`` server that serves it.
    """
    data = page_data(runs, initial, live)
    html = (PAGE_DIR / "page.html").read_text(encoding="utf-8")
    css = (PAGE_DIR / "page.css").read_text(encoding="utf-8")
    js = (PAGE_DIR / "page.js").read_text(encoding="utf-8")
    return _fill(html, css, data, js)


def _fill(html: str, css: str, data: str, js: str) -> str:
    """Put each text at its marker, in order (nothing inserted is searched again)."""
    out = []
    rest = html
    for marker, text in (("/*CSS*/", css), ("/*DATA*/", data), ("/*JS*/", js)):
        head, sep, rest = rest.partition(marker)
        if not sep:
            raise ValueError(f"{PAGE_DIR / 'page.html'} lacks its {marker} marker")
        out += [head, text]
    out.append(rest)
    return "".join(out)
