"""The fuzz tests (tests/fuzz) with thousands of cases: Miro's callback and the service API.

Runs pytest on `tests/fuzz` with `MIROCONNECT_FUZZ_EXAMPLES` (default here 3000 per test,
400 in `make test`) on SQLite, and prints each test's count line: cases, statuses, legitimate
grants, secrets searched in how many log lines. Each test asserts no 5xx, no grant or
connection for a state we did not issue, and no secret in any log line.
Run: `python -m bench bench_fuzz` (about 2-3 min); `MIROCONNECT_BENCH_FUZZ_EXAMPLES=N`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["main"]

EXAMPLES = os.environ.get("MIROCONNECT_BENCH_FUZZ_EXAMPLES", "3000")


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    started = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/fuzz",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
        ],
        cwd=root,
        # New examples every run here; `make test` draws the same ones each time.
        env=dict(os.environ)
        | {"MIROCONNECT_FUZZ_EXAMPLES": EXAMPLES, "MIROCONNECT_FUZZ_EXPLORE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    for line in run.stdout.splitlines():
        if "fuzz:" in line or "passed" in line or "failed" in line:
            print(line)
    print(f"{EXAMPLES} examples per test, {time.monotonic() - started:.0f} s")
    if run.returncode != 0:
        print(run.stdout[-4000:])
        raise SystemExit(1)


if __name__ == "__main__":
    main()
