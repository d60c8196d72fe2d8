"""Imports point one way (see docs/design): the emulator above all stands apart.

The emulator exists to catch our bugs, so it must not share code with what it tests: it
may import
`miroconnect.errors` and nothing else of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import miroconnect

PACKAGE = Path(miroconnect.__file__).parent


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


def test_emulator_imports_only_errors_from_the_package() -> None:
    files = sorted((PACKAGE / "emulator").rglob("*.py"))
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


def test_the_import_walker_sees_package_imports(tmp_path: Path) -> None:
    # The check above is only as good as the walker: prove it finds each import form.
    sample = PACKAGE / "emulator" / "__init__.py"
    found = _imported_modules(sample)
    probe = tmp_path / "probe.py"
    probe.write_text("import miroconnect.oauth\nfrom miroconnect.client import x\n")
    assert {"miroconnect.oauth", "miroconnect.client"} <= _imported_modules(probe)
    assert isinstance(found, set)
