"""The public surface is a contract: `__all__` lists exactly what the package
exports."""

from __future__ import annotations

import miroconnect


def test_all_is_sorted_and_complete() -> None:
    public = sorted(
        (
            name
            for name, value in vars(miroconnect).items()
            if (not name.startswith("_") or name == "__version__")
            and not getattr(value, "__name__", "").startswith("miroconnect.")
            and name not in {"annotations"}
        ),
        key=str.casefold,
    )
    assert miroconnect.__all__ == sorted(miroconnect.__all__, key=str.casefold)
    assert set(miroconnect.__all__) == set(public)
