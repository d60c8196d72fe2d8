"""Node projects in the tests: `node` and `npm`, and `npm ci`, or a skip that says why.

The suite runs where Node is missing, or where the npm registry cannot be reached: the
tests that need them are skipped there, with the reason, and run everywhere else.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["node_and_npm", "npm_ci"]


def node_and_npm(needed_for: str) -> tuple[str, str]:
    """The paths of `node` and `npm`, or a skip: "node and npm are needed for ..."."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"node and npm are needed for {needed_for}")
    return node, npm


def npm_ci(npm: str, folder: Path, what: str) -> None:
    """`npm ci` in `folder`, or a skip naming `what` could not be installed and npm's
    error code (no registry, offline)."""
    try:
        subprocess.run(  # noqa: S603  # npm from PATH, fixed arguments
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as failure:
        lines = str(getattr(failure, "stderr", "") or "").strip().splitlines()
        why = next((line for line in lines if "error code" in line), None)
        pytest.skip(
            f"npm ci could not install {what} (offline, no registry?): "
            + (why or (lines or ["timed out"])[0])
        )
