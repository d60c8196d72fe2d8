"""The public surface is a contract: each face's `__all__` lists exactly what it exports.

The library's face (`miroconnect`) and the three subpackages users import from
(`miroconnect.web`, `miroconnect.emulator`, `miroconnect.client`); every other module is
internal (`docs/architecture.md`).
"""

from __future__ import annotations

from types import ModuleType

import pytest

import miroconnect
import miroconnect.client
import miroconnect.emulator
import miroconnect.web


def _public(module: ModuleType) -> list[str]:
    return sorted(
        (
            name
            for name, value in vars(module).items()
            if (not name.startswith("_") or name == "__version__")
            and not getattr(value, "__name__", "").startswith("miroconnect.")
            and name not in {"annotations"}
        ),
        key=str.casefold,
    )


@pytest.mark.parametrize(
    "module",
    [miroconnect, miroconnect.web, miroconnect.emulator, miroconnect.client],
    ids=lambda module: module.__name__,
)
def test_all_is_sorted_and_complete(module: ModuleType) -> None:
    exported: list[str] = module.__all__
    assert exported == sorted(exported, key=str.casefold)
    assert set(exported) == set(_public(module))
