"""The engine on its own: write a capture file, commit, read records back by number.

    python examples/capturefile_basics.py [PATH]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from capturelog import CaptureFile


def main(path: Path) -> None:
    # A new file (or an existing one: records are appended).
    with CaptureFile(path, to_write=True, force_new_empty_file=True) as cf:
        for i in range(1, 6):
            cf.add_record(f"Hey this is my record {i}")
        cf.set_metadata(b"processed up to 5")  # committed together with the records
        cf.commit()  # all five become visible (and crash-safe) at once
        print(f"There are {cf.record_count()} records in this capture file.")

    with CaptureFile(path) as cf:
        print(cf.record_at(2))  # records are numbered from 1
        print(cf[2:4])  # a slice of record numbers, stop excluded
        for record in cf:
            print(record)
        print(cf.get_metadata())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp) / "Test.capture")
