"""What ``websocket_connect`` raises when it cannot connect, as its
reference says: the socket's own ``OSError`` when the TCP connection fails
(as the websockets library does), ``HandshakeError`` only for a handshake
that fails, ``ValueError`` for a URL that is not ``ws://`` or ``wss://``."""

from __future__ import annotations

import pathlib
import socket

import pytest

from curionet.protocols.websocket import HandshakeError, websocket_connect

REFERENCE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "reference" / "websocket.md"


def _refused_port() -> socket.socket:
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    return bound


async def test_refused_connection_raises_connection_refused_error():
    with _refused_port() as bound:
        port = bound.getsockname()[1]
        with pytest.raises(ConnectionRefusedError) as info:
            await websocket_connect(f"ws://127.0.0.1:{port}/")
    assert not isinstance(info.value, HandshakeError)
    assert f"127.0.0.1:{port}" in str(info.value)


async def test_refused_connection_in_async_with():
    with _refused_port() as bound:
        port = bound.getsockname()[1]
        with pytest.raises(OSError):
            async with websocket_connect(f"ws://127.0.0.1:{port}/"):
                pass


async def test_silent_server_is_a_handshake_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts (in the backlog) but never answers
        port = listener.getsockname()[1]
        with pytest.raises(HandshakeError):
            await websocket_connect(f"ws://127.0.0.1:{port}/", open_timeout=0.2)


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/", "ws:///no-host"])
async def test_bad_url_is_value_error(url):
    with pytest.raises(ValueError):
        await websocket_connect(url)


def test_reference_says_oserror_for_a_failed_connection():
    text = " ".join(REFERENCE.read_text().split())
    assert "`OSError` (such as `ConnectionRefusedError`) if the TCP connection cannot be made" in text
    assert "times out or the connection fails" not in text
