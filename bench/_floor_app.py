"""The floor of board creation: what `POST /users/{id}/boards` costs with nothing in between.

A FastAPI app that does what a service call must do at the least, and nothing more: check
the API key, validate the body with pydantic, take the user's token from memory, send one
`httpx2` `POST /v2/boards` to Miro (the emulator) on one shared client, validate the answer
with pydantic and answer 201 with the board. No database, no journal, no pacing, no logs.
`bench/bench_hotpath.py` runs it beside `miroconnect serve` and divides.

Configured by the environment (the bench sets it): `FLOOR_API_KEY`, `FLOOR_MIRO_API_URL`,
`FLOOR_TOKENS` (a JSON file: app user id -> access token). Serve it with
`python -m uvicorn bench._floor_app:app --no-access-log`.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import httpx2
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["app"]

_API_KEY = os.environ.get("FLOOR_API_KEY", "")
_MIRO = os.environ.get("FLOOR_MIRO_API_URL", "http://127.0.0.1:8765")
_TOKENS: dict[str, str] = (
    json.loads(Path(os.environ["FLOOR_TOKENS"]).read_text())
    if "FLOOR_TOKENS" in os.environ
    else {}
)


class BoardCreate(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    description: str | None = Field(default=None, max_length=300)


class MiroBoard(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    name: str
    view_link: str | None = Field(default=None, alias="viewLink")


class Board(BaseModel):
    id: str
    name: str
    view_link: str | None


class BoardCreated(BaseModel):
    board: Board


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with httpx2.AsyncClient(base_url=_MIRO, timeout=30) as client:
        app.state.http = client
        yield


app = FastAPI(lifespan=_lifespan)


@app.post("/api/v1/users/{user_id}/boards", status_code=201)
async def create_board(
    user_id: str,
    body: BoardCreate,
    authorization: Annotated[str, Header()] = "",
) -> BoardCreated:
    if not hmac.compare_digest(authorization, f"Bearer {_API_KEY}"):
        raise HTTPException(401)
    token = _TOKENS.get(user_id)
    if token is None:
        raise HTTPException(404)
    http: httpx2.AsyncClient = app.state.http
    answer = await http.post(
        "/v2/boards",
        json=body.model_dump(exclude_none=True),
        headers={"authorization": f"Bearer {token}"},
    )
    if answer.status_code != 201:
        raise HTTPException(502)
    board = MiroBoard.model_validate_json(answer.content)
    return BoardCreated(
        board=Board(id=board.id, name=board.name, view_link=board.view_link)
    )
