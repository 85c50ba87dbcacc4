"""A UDP echo server and client in one program (``recvfrom``/``sendto``).

    python examples/udp_echo.py
"""

import curionet
from curionet import socket


async def udp_echo_server(sock):
    while True:
        data, addr = await sock.recvfrom(65536)
        await sock.sendto(data, addr)


async def main():
    server_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server_sock.bind(("127.0.0.1", 0))
    server = await curionet.spawn(udp_echo_server, server_sock)

    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    async with client:
        for i in range(3):
            await client.sendto(b"datagram %d" % i, server_sock.getsockname())
            async with curionet.timeout_after(2):  # UDP may drop: never wait forever
                data, addr = await client.recvfrom(65536)
            print("echoed:", data.decode(), "from", addr)

    await server.cancel()
    await server_sock.close()


if __name__ == "__main__":
    curionet.run(main)
