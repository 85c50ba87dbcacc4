"""CONNECT tunnels through a proxy, against an in-memory proxy that answers
what each test scripts: the request it sees, and every way it can refuse."""

import pytest
from http_testing import memory_stream_pair

from curionet import spawn
from curionet.protocols.http import ClientSession, HTTPTransport, ProxyError


def proxy_session(answer, proxy="http://proxy.test:3128", seen=None, opened=None):
    """A session whose every connection reaches a fake proxy that reads one
    request head, records it in *seen* and sends *answer* (then closes)."""

    async def fake_proxy(stream):
        head = b""
        while b"\r\n\r\n" not in head:
            data = await stream.receive_some(65536)
            if not data:
                break
            head += data
        if seen is not None:
            seen.append(head)
        if answer:
            await stream.send_all(answer)
        await stream.close()

    async def connector(host, port, **kwargs):
        client, server = memory_stream_pair()
        if opened is not None:
            opened.append((host, port, client))
        await spawn(fake_proxy, server, daemon=True)
        return client

    return ClientSession(proxy=proxy, transport=HTTPTransport(connector=connector, proxy=proxy))


@pytest.mark.parametrize(
    "answer, words",
    [
        (b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", "407"),
        (b"", "closed the connection"),
        (b"this is not HTTP\r\n\r\n", "invalid response"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n", "invalid response"),
    ],
    ids=["407", "closed", "garbage", "huge-head"],
)
async def test_a_refused_or_broken_tunnel_is_a_proxy_error(autojump_clock, answer, words):
    opened = []
    async with proxy_session(answer, opened=opened) as session:
        with pytest.raises(ProxyError, match=words):
            await session.get("https://origin.test/")
        assert session.transport.pool.active_connections == 0
    assert [(host, port) for host, port, _ in opened] == [("proxy.test", 3128)]
    assert all(stream.closed for _, _, stream in opened)


async def test_connect_names_the_target_and_sends_proxy_credentials(autojump_clock):
    seen = []
    refuse = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
    async with proxy_session(refuse, proxy="http://user:secret@proxy.test:3128", seen=seen) as session:
        with pytest.raises(ProxyError, match="403"):
            await session.get("https://[::1]:8443/path")
    head = seen[0].decode("latin-1").split("\r\n")
    assert head[0] == "CONNECT [::1]:8443 HTTP/1.1"
    assert "Host: [::1]:8443" in head
    assert "Proxy-Authorization: Basic dXNlcjpzZWNyZXQ=" in head  # base64("user:secret")
