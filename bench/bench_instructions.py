"""The hot path's cost in instructions: the same in-process boards as `bench_inprocess`,
counted by valgrind instead of timed.

Seconds move from day to day on a shared machine (the floor app's CPU per board was 0.18
ms one day and 0.54 ms the next, with the ratios moving too); the number of instructions a
board takes does not. Each side runs in a child process under `valgrind --tool=callgrind`
(user-space instructions of the whole process, every thread; the kernel and the database
server are not counted), once with `WARM` boards and once with `WARM + BOARDS`, and the
difference divided by `BOARDS` is the cost of one board, start-up and warm-up left out.
Two runs of the same code gave the same figures to within 0.6 %.

- *floor*: `bench/_floor_app.py`, Miro canned (as in `bench_inprocess`);
- *sqlite*: `create_app` on a fresh SQLite database, the user connected, JSON logs to
  `/dev/null`;
- *postgres* (only when asked: valgrind makes its start-up take minutes): the same on a
  new database of `MIROCONNECT_BENCH_PG_URL`'s server.

Needs valgrind (`apt-get install valgrind`); says so and stops without it.

Rerun: `.venv/bin/python -m bench bench_instructions` (about 7 minutes). Scale with
`MIROCONNECT_BENCH_INSTRUCTIONS_BOARDS` (300); `_SIDES` (`floor,sqlite`; add `postgres`).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys

from bench._stack import ServiceKeys, env_int

__all__ = ["main", "run"]

SIDES = ("floor", "sqlite", "postgres")
WARM = 100
_COLLECTED = re.compile(r"Collected : (\d+)")


async def _child(side: str, boards: int) -> None:
    """Make `WARM` then `boards` boards on `side`, in this process (valgrind's child)."""
    from bench.bench_inprocess import opened_sides

    async with opened_sides(ServiceKeys.generate(), (side,)) as sides:
        for count in (WARM, boards):
            for _ in range(count):
                if await sides[side]() != 201:
                    raise RuntimeError("a board was not made")


def _instructions(valgrind: str, side: str, boards: int) -> int:
    """Instructions valgrind counted for a child making `WARM + boards` boards."""
    done = subprocess.run(  # noqa: S603  # our own interpreter and module
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "bench.bench_instructions",
            side,
            str(boards),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{side}: valgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def run(*, boards: int, sides: tuple[str, ...]) -> dict[str, float]:
    """Instructions per board of each side."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise FileNotFoundError("valgrind")
    return {
        side: (_instructions(valgrind, side, boards) - _instructions(valgrind, side, 0))
        / boards
        for side in sides
    }


def main() -> None:
    boards = env_int("INSTRUCTIONS", "BOARDS", 300)
    wanted = os.environ.get("MIROCONNECT_BENCH_INSTRUCTIONS_SIDES", "floor,sqlite")
    sides = tuple(side for side in SIDES if side == "floor" or side in wanted)
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed (apt-get install valgrind)")
        return
    print(
        f"instructions: ASGI apps called directly, Miro canned, under callgrind; "
        f"{boards} boards after {WARM}",
        flush=True,
    )
    results = run(boards=boards, sides=sides)
    floor = results["floor"]
    print("| side | instructions per board | / floor |")
    for side, count in results.items():
        print(f"| {side} | {count / 1e6:.3f} M | {count / floor:.2f} |")


if __name__ == "__main__":
    if (
        len(sys.argv) == 3
    ):  # valgrind's child: `python -m bench.bench_instructions SIDE N`
        asyncio.run(_child(sys.argv[1], int(sys.argv[2])))
    else:
        main()
