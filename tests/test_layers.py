"""Imports point one way, as `docs/architecture.md` draws them; the emulator stands apart.

Each part of the package has a rank; a module may import only parts of a lower rank (and
its own part). The emulator exists to catch our bugs, so it must not share code with what
it tests: it may import `miroconnect.errors` and nothing else of the package, and only the
command line (which serves it) imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import miroconnect

PACKAGE = Path(miroconnect.__file__).parent

# The table of docs/architecture.md: lower ranks first.
RANKS = {
    "errors": 0,
    "types": 0,
    "config": 1,
    "crypto": 2,
    "logs": 2,
    "oauth": 3,
    "client": 4,
    "storage": 5,
    "actions": 6,
    "webhooks": 6,
    "assembly": 7,
    "web": 8,
    "cli": 9,
    "__init__": 10,  # the library's face: exports from every layer
    "__main__": 10,
}
EMULATOR = "emulator"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the file's package
                parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
                base = ".".join(parts[: len(parts) - node.level])
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return found


def _part(path: Path) -> str:
    """The part of the package a file belongs to: its subpackage, or its module."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _parts_imported(path: Path) -> set[str]:
    return {
        module.split(".")[1]
        for module in _imported_modules(path)
        if module.startswith("miroconnect.")
    }


def test_every_part_has_a_rank() -> None:
    parts = {_part(path) for path in PACKAGE.rglob("*.py")} - {EMULATOR}
    assert parts == set(RANKS), "give the new part a rank here and in the doc"


def test_imports_only_point_to_lower_ranks() -> None:
    offenders = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        part = _part(path)
        if part == EMULATOR:
            continue
        for imported in _parts_imported(path) - {part}:
            if imported == EMULATOR:
                if part != "cli":
                    offenders.add(f"{path.relative_to(PACKAGE)} imports the emulator")
            elif RANKS[imported] >= RANKS[part]:
                offenders.add(
                    f"{path.relative_to(PACKAGE)} ({part}, rank {RANKS[part]}) imports "
                    f"{imported} (rank {RANKS[imported]})"
                )
    assert not offenders, sorted(offenders)


def test_the_emulator_imports_only_errors_from_the_package() -> None:
    files = sorted((PACKAGE / EMULATOR).rglob("*.py"))
    assert files, "the emulator package is missing"
    offenders = {
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in files
        for module in _imported_modules(path)
        if module.startswith("miroconnect")
        and not module.startswith("miroconnect.emulator")
        and module != "miroconnect.errors"
    }
    assert not offenders


# The database's libraries: SQL, migrations and driver knowledge live in `storage` alone.
DATABASE_LIBRARIES = ("sqlalchemy", "alembic", "asyncpg", "aiosqlite", "sqlite3")


def test_only_storage_imports_the_database_libraries() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if _part(path) not in ("storage", EMULATOR)
        for module in _imported_modules(path)
        if module.split(".")[0] in DATABASE_LIBRARIES
    }
    assert not offenders, sorted(offenders)


def test_the_import_walker_sees_every_import_form(tmp_path: Path) -> None:
    # The checks above are only as good as the walker: prove it finds both import
    # forms, and that a real module's imports come out as parts.
    probe = tmp_path / "probe.py"
    probe.write_text("import miroconnect.oauth\nfrom miroconnect.client import x\n")
    assert {"miroconnect.oauth", "miroconnect.client"} <= _imported_modules(probe)
    assert {"oauth", "client", "storage"} <= _parts_imported(PACKAGE / "assembly.py")
