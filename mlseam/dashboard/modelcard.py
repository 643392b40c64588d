"""A service's README rendered as its model card: CommonMark without raw HTML, then sanitised."""

from __future__ import annotations

from pathlib import Path

import nh3
from markdown_it import MarkdownIt

# "js-default" is CommonMark with raw HTML off (a <script> in the README becomes text) and
# javascript:/data: links refused; nh3 then keeps only harmless tags and attributes.
_MARKDOWN = MarkdownIt("js-default").enable("table")


def render_model_card(readme: Path) -> str:
    """The README at ``readme`` as safe HTML; a short note when the service has none."""
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "<p>This service has no README.md: it has no model card.</p>"
    return nh3.clean(_MARKDOWN.render(text))
