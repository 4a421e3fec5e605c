"""``capturelog verify``: errors are errors (exit 1), damage is damage (exit 3),
and any sound capture file is sound, whatever its records hold. The installed
console script runs in a subprocess."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from capturelog import CaptureFile, CaptureHandler

SCRIPT = str(Path(sys.executable).parent / "capturelog")


def run(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, SCRIPT, *args], capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def unprivileged() -> list[str]:
    """What to run a command under so that it cannot read a file its mode
    forbids: nothing for an ordinary user; for root, setpriv dropping the two
    capabilities that let root read any file (without setpriv, as root, the
    test is skipped)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: root reads a file whatever its mode")
    drop = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}"]


def plain_file(path: Path, count: int = 10) -> None:
    """A capture file written with the plain engine API, as the issue did."""
    with CaptureFile(path, to_write=True) as cf:
        for i in range(count):
            cf.add_record(f"text {i}")
        cf.commit()


def log_file(path: Path, count: int = 20) -> None:
    handler = CaptureHandler(path, commit_interval=None)
    log = logging.getLogger("tests.verify_cli")
    log.handlers = [handler]
    log.propagate = False
    for i in range(count):
        log.warning("event %d", i)
    handler.close()


def assert_one_error_line(result: subprocess.CompletedProcess[str], path: Path, text: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stderr == f"capturelog: error: {path}: {text}\n", result.stderr
    assert "DAMAGED" not in result.stdout


def test_a_plain_engine_file_is_sound_without_raw(tmp_path: Path) -> None:
    """A sound file of plain records is sound (exit 0, its records counted as
    plain), with or without --raw; a log file whose record is not a log
    record is still damage."""
    path = tmp_path / "plain.capture"
    plain_file(path)
    for args in (["verify", str(path)], ["verify", "--raw", str(path)]):
        result = run(*args)
        assert result.returncode == 0, result.stdout
        assert result.stdout.startswith(f"{path}: sound: 10 records,")
        assert result.stderr == ""
    assert (
        "its 10 records are plain (not capturelog log records)" in run("verify", str(path)).stdout
    )

    logs = tmp_path / "logs.capture"
    log_file(logs)
    with CaptureFile(logs, to_write=True) as cf:
        cf.add_record("not a log record")
        cf.commit()
    result = run("verify", str(logs))
    assert result.returncode == 3
    assert "record 21: not a capturelog record" in result.stdout
    assert run("verify", "--raw", str(logs)).returncode == 0


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (b"", "not a capture file (the file is empty)"),
        (b"hello, a text file\n" * 20, "not a capture file (wrong magic bytes)"),
        (b"MioCap", "not a capture file (too short: 6 bytes)"),
    ],
)
def test_what_is_not_a_capture_file_is_an_error(tmp_path: Path, content: bytes, text: str) -> None:
    """Empty, text and too-short files: exit 1 with one line naming the path."""
    path = tmp_path / "f.capture"
    path.write_bytes(content)
    result = run("verify", str(path))
    assert_one_error_line(result, path, text)
    assert result.stdout == ""


def test_missing_file_and_directory_are_errors(tmp_path: Path) -> None:
    """A missing file and a directory without capture files: exit 1, one line
    naming the path (a directory's capture files are checked, like cat's)."""
    missing = tmp_path / "missing.capture"
    assert_one_error_line(run("verify", str(missing)), missing, "no such file")
    directory = tmp_path / "empty-dir"
    directory.mkdir()
    assert_one_error_line(
        run("verify", str(directory)), directory, "no capture files in this directory"
    )
    plain_file(directory / "a.capture")
    result = run("verify", str(directory))
    assert result.returncode == 0
    assert result.stdout.startswith(f"{directory / 'a.capture'}: sound: 10 records")


def test_an_unreadable_file_is_one_error(tmp_path: Path) -> None:
    """chmod 000: exit 1, "Permission denied" once, naming the path (as
    root, run without the capabilities that read any file)."""
    path = tmp_path / "locked.capture"
    plain_file(path)
    path.chmod(0)
    try:
        result = run("verify", str(path), prefix=tuple(unprivileged()))
        assert_one_error_line(result, path, "Permission denied")
    finally:
        path.chmod(0o644)


def test_a_damaged_magic_is_damage_when_the_master_nodes_prove_the_layout(tmp_path: Path) -> None:
    """A capture file whose magic bytes (or page size) are overwritten is a
    damaged capture file (exit 3, the header named, salvage suggested), not
    "not a capture file"."""
    for start, data in ((0, b"XXXX"), (15, b"\x00\x00\x00\x07")):
        path = tmp_path / f"header{start}.capture"
        plain_file(path)
        with open(path, "r+b") as f:
            f.seek(start)
            f.write(data)
        result = run("verify", str(path))
        assert result.returncode == 3, (result.stdout, result.stderr)
        assert f"{path}: DAMAGED" in result.stdout
        assert "header: " in result.stdout and "the master nodes show the layout" in result.stdout
        assert f"capturelog salvage {path} NEW" in result.stdout


def test_several_files_each_reported_and_the_worst_status(tmp_path: Path) -> None:
    """Each path gets its report or its error line; exit 3 when damage was
    found, 1 when a file could not be checked at all (which wins)."""
    sound = tmp_path / "sound.capture"
    log_file(sound)
    damaged = tmp_path / "damaged.capture"
    plain_file(damaged, 3000)
    with open(damaged, "r+b") as f:
        f.seek(86016 + 300)  # inside the first compressed block
        f.write(b"\xff" * 8)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")

    result = run("verify", str(sound), str(damaged))
    assert result.returncode == 3
    assert f"{sound}: sound: 20 records" in result.stdout
    assert f"{damaged}: DAMAGED" in result.stdout and "block at byte 86016" in result.stdout
    assert result.stderr == ""

    result = run("verify", str(text), str(sound), str(damaged))
    assert result.returncode == 1
    assert result.stderr == f"capturelog: error: {text}: not a capture file (wrong magic bytes)\n"
    assert f"{sound}: sound" in result.stdout and f"{damaged}: DAMAGED" in result.stdout


def test_verify_help_states_the_exit_codes() -> None:
    """verify --help works and says what its exit statuses mean."""
    result = run("verify", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "0 every file is sound" in text and "3 damage was found" in text
    assert "1 a file could not be checked" in text
