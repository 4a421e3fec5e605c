"""Every script in examples/ runs and prints what the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart_prints_the_seed_output(tmp_path: Path) -> None:
    """The quickstart shows the seed's Quickstart results, then the metadata."""
    out = run("quickstart.py", str(tmp_path / "q.capture"))
    assert out.splitlines() == [
        "There are 5 records in this capture file.",
        "Hey this is my record 2",
        "['Hey this is my record 2', 'Hey this is my record 3']",
        *[f"Hey this is my record {i}" for i in range(1, 6)],
        "b'processed up to 5'",
    ]
