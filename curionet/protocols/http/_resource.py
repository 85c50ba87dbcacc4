"""The ``async with`` protocol shared by the HTTP objects that hold
connections (session, pool, response)."""

from __future__ import annotations

from typing import Any, Self


class AsyncResource:
    """``async with obj:`` gives *obj* and awaits ``obj.aclose()`` when the
    block ends, however it ends."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
