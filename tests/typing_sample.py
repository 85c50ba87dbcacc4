"""A user program that tests/test_typing.py type-checks with ``mypy --strict``.

It is never run: each ``assert_type`` states the type an editor should see.
"""

from __future__ import annotations

from typing import Any, assert_type

import curionet
from curionet import (
    ClientSession,
    Headers,
    Queue,
    Response,
    Task,
    TaskGroup,
    WebSocket,
    ignore_after,
    open_connection,
    open_tcp_stream,
    spawn,
    timeout_after,
    websocket_connect,
)
from curionet.kernel.io import Socket


async def add(x: int, y: int) -> int:
    return x + y


async def name() -> str:
    return "curionet"


async def main() -> int:
    task = await spawn(add, 1, 2)
    assert_type(task, Task[int])
    assert_type(await task.join(), int)
    assert_type(task.result, int)
    assert_type(await spawn(name()), Task[str])

    async with TaskGroup() as group:
        t2 = await group.spawn(name)
        assert_type(t2, Task[str])
        assert_type(await group.spawn(add(1, 2)), Task[int])
    assert_type(await t2.join(), str)

    assert_type(await timeout_after(1.0, add, 1, 2), int)
    assert_type(await timeout_after(1.0, name()), str)
    assert_type(await ignore_after(1.0, add, 1, 2), int | None)
    assert_type(await ignore_after(1.0, name(), timeout_result=0), str | int)
    async with timeout_after(1.0) as block:
        assert_type(block.expired, bool)
    async with ignore_after(1.0) as block2:
        assert_type(block2.expired, bool)

    queue: Queue[int] = Queue()
    await queue.put(1)
    assert_type(await queue.get(), int)

    sock = await open_connection("127.0.0.1", 80)
    assert_type(sock, Socket)
    assert_type(await open_tcp_stream("localhost", 80), Socket)

    ws = await websocket_connect("ws://127.0.0.1:8000/")
    assert_type(ws, WebSocket)
    async with websocket_connect("ws://127.0.0.1:8000/") as ws2:
        assert_type(ws2, WebSocket)

    async with ClientSession() as session:
        response = await session.get("http://127.0.0.1:8000/")
        assert_type(response, Response)
        assert_type(await session.post("http://127.0.0.1:8000/", json={}), Response)
        assert_type(response.status_code, int)
        assert_type(response.headers, Headers)
        assert_type(await response.text(), str)
        assert_type(await response.json(), Any)
        assert_type(await response.aread(), bytes)
    return 0


assert_type(curionet.run(main), int)
assert_type(curionet.run(add, 1, 2), int)
assert_type(curionet.run(name()), str)
