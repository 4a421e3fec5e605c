"""What `pip install .` ships: every package of capturelog (a non-editable
install left out `capturelog.cli`, and the console script could not start)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_for_setuptools() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    listed = set(re.findall(r'"([\w.]+)"', re.search(r"(?m)^packages = \[(.*)\]$", text)[1]))  # type: ignore[index]
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "capturelog").rglob("__init__.py")
    }
    assert listed == found
