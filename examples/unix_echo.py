"""A Unix-domain socket echo server and client in one program.

    python examples/unix_echo.py
"""

import os
import tempfile

import curionet


async def echo_client(client, addr):
    stream = client.as_stream()
    async for line in stream:
        await stream.write(line.upper())


async def main():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "echo.sock")
        sock = curionet.unix_server_socket(path)
        server = await curionet.spawn(curionet.run_server, sock, echo_client)

        conn = await curionet.open_unix_connection(path)
        async with conn.as_stream() as stream:
            for line in [b"hello\n", b"unix sockets\n"]:
                await stream.write(line)
                print("echoed:", (await stream.readline()).decode().strip())

        await server.cancel()


if __name__ == "__main__":
    curionet.run(main)
