"""curionet's RFC 8305 connector racing a broken IPv6 path, with its trace.

Two loopback listeners stand for one dual-stack host, "dual.localhost":

* on ``::1`` a listener whose accept queue is full, so connecting to it
  hangs (Linux drops the SYN), like an IPv6 path that silently eats packets;
* on ``127.0.0.1`` a working echo server.

A small resolver passed to ``open_tcp_stream`` answers for the name (AAAA
after 10 ms, A after 20 ms).  The trace shows IPv6 tried first, IPv4 started
one Connection Attempt Delay (250 ms) later, IPv4 winning and the hanging
IPv6 attempt cancelled and closed.  Run it:

    python examples/happy_eyeballs.py
"""

import select
import socket

import curionet
from curionet import open_tcp_stream, socket as curionet_socket


def hanging_ipv6_listener():
    """A ::1 listener to which connects hang; returns (listener, fillers, port)."""
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.bind(("::1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    while True:  # connect until one attempt stays unanswered: the queue is full
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        fillers.append(probe)
        probe.setblocking(False)
        probe.connect_ex(("::1", port))
        if not select.select([], [probe], [], 0.2)[1]:
            return listener, fillers, port


async def echo_once(listener):
    client, _ = await listener.accept()
    async with client:
        await client.sendall(await client.recv(100))


async def main():
    try:
        listener6, fillers, port6 = hanging_ipv6_listener()
    except OSError:
        print("this machine has no IPv6 on loopback: the race will be IPv4 only")
        listener6, fillers, port6 = None, [], 9
    listener4 = curionet_socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener4.bind(("127.0.0.1", 0))
    listener4.listen(8)
    port4 = listener4.getsockname()[1]

    async def resolver(host, port, family):
        if family == socket.AF_INET6:
            await curionet.sleep(0.01)
            return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::1", port6, 0, 0))]
        await curionet.sleep(0.02)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port4))]

    try:
        async with listener4:
            server = await curionet.spawn(echo_once, listener4)
            sock = await open_tcp_stream("dual.localhost", 80, resolver=resolver, trace=print)
            async with sock:
                await sock.sendall(b"hello over IPv4")
                print("echoed:", (await sock.recv(100)).decode())
            await server.join()
    finally:
        for s in fillers:
            s.close()
        if listener6 is not None:
            listener6.close()


if __name__ == "__main__":
    curionet.run(main)
