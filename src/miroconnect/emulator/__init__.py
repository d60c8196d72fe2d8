"""A fake Miro: OAuth server and REST API v2, for tests and offline demos.

It imports nothing from the rest of miroconnect (except perhaps `errors`), so it cannot
share the bugs it exists to catch.

```python
from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport

app = create_emulator(
    clients=[EmulatorClient("3074457", "secret", ("http://127.0.0.1:8000/callback",))],
    auto_approve=True,
)
client = httpx2.AsyncClient(transport=emulator_transport(app), base_url="http://miro.test")
```
"""

from __future__ import annotations

from miroconnect.emulator.app import create_emulator
from miroconnect.emulator.serving import serve_in_thread
from miroconnect.emulator.state import EmulatorClient
from miroconnect.emulator.transport import ConnectionAborted, emulator_transport

__all__ = [
    "ConnectionAborted",
    "create_emulator",
    "emulator_transport",
    "EmulatorClient",
    "serve_in_thread",
]
