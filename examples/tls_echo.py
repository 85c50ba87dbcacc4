"""A TLS echo server and client in one program.

    python examples/tls_echo.py

Certificates come from ``trustme`` (``pip install trustme``), generated at
start-up: a throw-away CA, a server certificate for ``localhost`` signed by
it, and a client context that trusts only that CA.  A second client that
does not trust the CA is refused with ``ssl.SSLCertVerificationError``.
"""

import ssl as stdssl

import trustme

import curionet
from curionet import network, ssl


async def echo_client(client, addr):
    while True:
        data = await client.recv(100000)
        if not data:
            break
        await client.sendall(data)


async def main():
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx._context)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx._context)

    sock = network.tcp_server_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = await curionet.spawn(network.run_server, sock, echo_client, server_ctx)

    conn = await curionet.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="localhost")
    async with conn:
        print("TLS version:", conn.version(), "- peer:", conn.getpeercert()["subject"])
        for word in [b"hello", b"secure", b"world"]:
            await conn.sendall(word)
            print("echoed:", (await conn.recv(100)).decode())

    try:
        await curionet.open_connection("127.0.0.1", port, ssl=True, server_hostname="localhost")
    except stdssl.SSLCertVerificationError as e:
        print("a client without the CA is refused:", e.verify_message)

    await server.cancel()


if __name__ == "__main__":
    curionet.run(main)
