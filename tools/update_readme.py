"""Rewrite the README's generated blocks from the code that defines them.

Usage: .venv/bin/python tools/update_readme.py        (tests/test_readme.py checks that nothing would change)

A block sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``; NAME picks its source.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phase4a import config  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = {"presets": config.presets_markdown}


def updated(text: str) -> str:
    """``text`` with every generated block replaced by its source's current output."""
    for name, source in BLOCKS.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- end: {name} -->)", re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"error: README.md has no '<!-- generated: {name} -->' block")
        block = source()
        text = pattern.sub(lambda match, block=block: match.group(1) + block + "\n" + match.group(2), text)
    return text


def main() -> int:
    text = README.read_text()
    new = updated(text)
    if new != text:
        README.write_text(new)
        print("README.md: generated blocks updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
