"""Email link tracking: rewrite http(s) links through a click URL and add an open pixel.

Pure string work on the rendered HTML; the caller supplies how tracking URLs are made.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def track_html(
    html: str, click_url: Callable[[str], str], pixel_url: str, skip: tuple[str, ...] = ()
) -> str:
    """Links to http(s) targets go through `click_url(target)`; others (mailto:, tel:,
    anchors) and those starting with a `skip` prefix (the unsubscribe link) stay as they are.
    The pixel goes before </body> when there is one, else at the end."""

    def rewrite(match: re.Match[str]) -> str:
        prefix, quote, target = match.group(1), match.group(2), match.group(3)
        plain = html_lib.unescape(target).strip()
        if not plain.lower().startswith(("http://", "https://")) or plain.startswith(skip):
            return match.group(0)
        return f"{prefix}{quote}{html_lib.escape(click_url(plain), quote=True)}{quote}"

    tracked = _HREF.sub(rewrite, html)
    pixel = (
        f'<img src="{html_lib.escape(pixel_url, quote=True)}" width="1" height="1" alt="" '
        'style="display:none">'
    )
    close = tracked.lower().rfind("</body>")
    if close == -1:
        return tracked + pixel
    return tracked[:close] + pixel + tracked[close:]
