"""The README's front door works as written: its Quickstart is
examples/quickstart.py word for word, and its terminal session, replayed
command by command after the quickstart, prints what the README shows (times,
ids, paths, sizes and versions aside)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(Path(sys.executable).parent / "capturelog")


def fenced_blocks(text: str) -> list[tuple[str, str, str]]:
    """(the paragraph line before it, language, body) for each fenced block."""
    found = []
    for match in re.finditer(r"(?m)^```(\w*)\n(.*?)^```$", text, re.S):
        before = text[: match.start()].rstrip().splitlines()
        found.append((before[-1] if before else "", match[1], match[2]))
    return found


README = (ROOT / "README.md").read_text()
BLOCKS = fenced_blocks(README)


def test_quickstart_is_the_example_word_for_word() -> None:
    section = README.split("## Quickstart", 1)[1]
    code = fenced_blocks(section)[0][2]
    example = (ROOT / "examples" / "quickstart.py").read_text()
    assert example.split('"""', 2)[2].lstrip("\n") == code


def normalised(text: str) -> str:
    """Output with what differs between runs and machines replaced."""
    rules = [
        (r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[.,]\d{3}(?:[+-]\d{4})?", "<time>"),
        (r"\S*/examples/quickstart\.py", "<quickstart>"),
        (r"(?m)^(\s*(?:process|thread|relativeCreated)): .*$", r"\1: <n>"),
        (r"(?m)^(writer: ).*$", r"\1<writer>"),
        (r"(?m)^(size: ).*$", r"\1<size>"),
        (r"\(\d[\d,.]* s\)", "(<seconds>)"),
        (r"[ \t]+", " "),
    ]
    for pattern, replacement in rules:
        text = re.sub(pattern, replacement, text)
    return text.strip()


def test_the_terminal_session_is_what_a_new_user_gets(tmp_path: Path) -> None:
    """Run the quickstart where the user would (it writes app.capture in the
    current directory), then every `$ capturelog ...` line of the session."""
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        cwd=tmp_path, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    session = next(body for before, lang, body in BLOCKS if before == "And at the terminal:")
    steps = re.split(r"(?m)^\$ ", session)[1:]
    assert len(steps) >= 4
    for step in steps:
        command, _, expected = step.partition("\n")
        argv = shlex.split(command)
        assert argv[0] == "capturelog", command
        result = subprocess.run(
            [SCRIPT, *argv[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert result.returncode == 0, (command, result.stderr)
        assert normalised(result.stdout) == normalised(expected), command
