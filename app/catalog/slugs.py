"""URL handles of products and categories."""

from __future__ import annotations

import re

__all__ = ["SLUG_SHAPE", "slugify"]

SLUG_SHAPE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slugify(text: str) -> str:
    """A lower-case, hyphenated handle of a name: "Men's T-Shirts" -> "mens-t-shirts"."""
    without_apostrophes = text.lower().replace("'", "")
    return re.sub(r"[^a-z0-9]+", "-", without_apostrophes).strip("-")
