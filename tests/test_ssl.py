"""TLS tests against real loopback peers with trustme certificates."""

from __future__ import annotations

import logging
import socket as stdsocket
import ssl as stdssl

import pytest
import trustme
from test_io import FAMILIES

import curionet
from curionet import network, socket, ssl


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ctx(ca):
    ctx = stdssl.create_default_context(stdssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def client_ctx(ca):
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx._context)
    return ctx


async def echo_handler(client, addr):
    async with client:
        while True:
            data = await client.recv(100000)
            if not data:
                break
            await client.sendall(data)


async def start_tls_server(server_ctx, handler=echo_handler, family=stdsocket.AF_INET, host="127.0.0.1"):
    sock = network.tcp_server_socket(host, 0, family=family)
    port = sock.getsockname()[1]
    task = await curionet.spawn(network.run_server, sock, handler, server_ctx)
    return task, port


@pytest.mark.parametrize("family,host", FAMILIES)
async def test_tls_echo_with_trusted_ca(server_ctx, client_ctx, family, host):
    task, port = await start_tls_server(server_ctx, family=family, host=host)
    c = await curionet.open_connection(host, port, ssl=client_ctx, server_hostname="localhost")
    async with c:
        assert c.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")
        assert c.version().startswith("TLS")
        payload = bytes(range(256)) * 1000  # several TLS records
        await c.sendall(payload)
        got = bytearray()
        while len(got) < len(payload):
            got += await c.recv(100000)
        assert bytes(got) == payload
        # A stream over a TLS socket works too.
        s = c.as_stream()
        await s.write(b"line\n")
        assert await s.readline() == b"line\n"
    await task.cancel()


async def test_server_hostname_defaults_to_host(server_ctx, client_ctx):
    task, port = await start_tls_server(server_ctx)
    c = await curionet.open_connection("127.0.0.1", port, ssl=client_ctx)
    async with c:
        await c.sendall(b"ok")
        assert await c.recv(10) == b"ok"
    await task.cancel()


async def test_unknown_ca_is_refused_with_cert_verification_error(server_ctx):
    task, port = await start_tls_server(server_ctx)
    with pytest.raises(stdssl.SSLCertVerificationError):
        await curionet.open_connection("127.0.0.1", port, ssl=True, server_hostname="localhost")
    # ssl=True uses the system store, which does not know the trustme CA; the
    # module-level wrap_socket verifies by default too.
    sock = await socket.create_connection(("127.0.0.1", port))
    with pytest.raises(stdssl.SSLCertVerificationError):
        await ssl.wrap_socket(sock, server_hostname="localhost")
    assert sock.fileno() == -1
    # The server is still fine.
    other = trustme.CA()
    bad = ssl.create_default_context()
    other.configure_trust(bad._context)
    with pytest.raises(stdssl.SSLCertVerificationError):
        await curionet.open_connection("127.0.0.1", port, ssl=bad, server_hostname="localhost")
    await task.cancel()


async def test_wrong_hostname_is_refused(server_ctx, client_ctx):
    task, port = await start_tls_server(server_ctx)
    with pytest.raises(stdssl.SSLCertVerificationError):
        await curionet.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="example.org")
    await task.cancel()


async def test_plain_and_bad_clients_fail_alone(server_ctx, client_ctx, ca, caplog):
    task, port = await start_tls_server(server_ctx)
    with caplog.at_level(logging.INFO, logger="curionet"):
        # A plain-text client: the server's handshake fails and it drops the
        # connection (EOF or a reset, depending on timing).
        plain = await curionet.open_connection("127.0.0.1", port)
        async with plain:
            await plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:
                while await plain.recv(1000):
                    pass
            except ConnectionResetError:
                pass
        # A client that does not trust the server aborts its handshake.
        with pytest.raises(stdssl.SSLCertVerificationError):
            await curionet.open_connection("127.0.0.1", port, ssl=True, server_hostname="localhost")
        # A client that connects and leaves mid-handshake.
        raw = stdsocket.create_connection(("127.0.0.1", port))
        raw.sendall(b"\x16\x03\x01\x00\x10garbage")
        raw.close()
        # A good client in the middle of all this is served.
        good = await curionet.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="localhost")
        async with good:
            await good.sendall(b"fine")
            assert await good.recv(10) == b"fine"
    assert any("handshake" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await task.cancel()


async def test_cancel_during_tls_handshake_closes_socket(client_ctx):
    # A "server" that accepts and never answers: the handshake blocks.
    lsock = network.tcp_server_socket("127.0.0.1", 0)
    async with lsock:
        port = lsock.getsockname()[1]
        sock = await socket.create_connection(("127.0.0.1", port))
        peer, _ = await lsock.accept()
        async with peer:
            t = await curionet.spawn(client_ctx.wrap_socket(sock, server_hostname="localhost"))
            await curionet.sleep(0.01)
            await t.cancel()
            assert t.cancelled
            assert sock.fileno() == -1  # detached into the TLS socket, which was closed
            assert await peer.recv(10000)  # the ClientHello arrived
            assert await peer.recv(10000) == b""  # and then the connection closed


async def test_timeout_during_handshake_is_clean(client_ctx):
    lsock = network.tcp_server_socket("127.0.0.1", 0)
    async with lsock:
        port = lsock.getsockname()[1]
        with pytest.raises(curionet.TaskTimeout):
            async with curionet.timeout_after(0.05):
                await curionet.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="localhost")
        peer, _ = await lsock.accept()
        async with peer:
            data = b""
            while chunk := await peer.recv(10000):
                data += chunk
            assert data  # a ClientHello, then EOF: the client socket was closed


async def test_wrap_socket_server_side_handshake_unwrap_and_pem(ca, server_ctx, client_ctx, tmp_path):
    cert = ca.issue_cert("localhost")
    certfile = tmp_path / "cert.pem"
    keyfile = tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))

    a, b = socket.socketpair()

    async def server():
        s = await ssl.wrap_socket(b, keyfile=str(keyfile), certfile=str(certfile), server_side=True,
                                  do_handshake_on_connect=False)  # fmt: skip
        await s.do_handshake()
        assert await s.recv(10) == b"hello"
        plain = await s.unwrap()
        assert await plain.recv(10) == b"clear"
        await plain.close()
        await s.close()

    t = await curionet.spawn(server)
    c = await ssl.wrap_socket(a, ca_certs=str(cafile), server_hostname="localhost")
    await c.sendall(b"hello")
    plain = await c.unwrap()
    await plain.sendall(b"clear")
    await t.join()
    await plain.close()
    await c.close()

    task, port = await start_tls_server(server_ctx)
    pem = await ssl.get_server_certificate(("127.0.0.1", port))
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert b"localhost" in stdssl.PEM_cert_to_DER_cert(pem)
    await task.cancel()


async def test_ssl_module_exports_and_context_delegation(client_ctx):
    assert ssl.CERT_REQUIRED == stdssl.CERT_REQUIRED
    assert ssl.SSLCertVerificationError is stdssl.SSLCertVerificationError
    assert client_ctx.verify_mode == stdssl.CERT_REQUIRED
    client_ctx.check_hostname = True
    assert client_ctx._context.check_hostname
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert isinstance(ctx._context, stdssl.SSLContext)
    with pytest.raises(TypeError):
        await curionet.open_connection("127.0.0.1", 1, ssl="yes please")


async def test_alpn_and_stdlib_context_on_open_connection(server_ctx, ca):
    server_ctx.set_alpn_protocols(["h2", "http/1.1"])
    task, port = await start_tls_server(server_ctx)
    ctx = stdssl.create_default_context()
    ca.configure_trust(ctx)
    c = await curionet.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost",
                                       alpn_protocols=["http/1.1"])  # fmt: skip
    async with c:
        assert c.selected_alpn_protocol() == "http/1.1"
    await task.cancel()
