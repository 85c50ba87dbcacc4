"""Happy Eyeballs the way Curio's README sketches it, on curionet.

A compact staggered-connect recipe built only from task-group features:
``TaskGroup(wait=object)`` (the group's join waits for the first task that
returns something other than ``None``), ``next_result()``, ``ignore_after``
and ``group.completed``.  It tries the addresses ``getaddrinfo`` returns,
starting a new attempt every *delay* seconds, or at once when one fails.

Compared with ``curionet.open_tcp_stream`` (RFC 8305), it does one combined
lookup instead of separate AAAA and A queries, has no Resolution Delay, does
not clamp the delay and cannot take late answers.  Run it:

    python examples/happy_eyeballs_curio_recipe.py
"""

import itertools

import curionet
from curionet import TaskGroup, ignore_after, socket


async def open_tcp_stream(hostname, port, delay=0.3):
    addresses = await socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    if not addresses:
        raise OSError(f"no addresses for {hostname}:{port}")

    # Put one address of each family first, then everything else in order.
    by_family = [list(group) for _, group in itertools.groupby(addresses, key=lambda a: a[0])]
    ordered = [group.pop(0) for group in by_family] + list(itertools.chain(*by_family))

    errors = []

    async def attempt(family, type_, proto, address):
        sock = socket.socket(family, type_, proto)
        try:
            await sock.connect(address)
        except OSError as exc:
            errors.append(exc)
            await sock.close()
            return None  # a failed attempt: next_result() hands back None
        except BaseException:
            await sock.close()  # cancelled because another attempt won
            raise
        return sock

    async with TaskGroup(wait=object) as group:
        for family, type_, proto, _, address in ordered:
            await group.spawn(attempt, family, type_, proto, address)
            # Wait up to `delay` for this or an earlier attempt to finish.
            async with ignore_after(delay):
                sock = await group.next_result()
                if sock is not None:
                    await group.cancel_remaining()
                    return sock
        # Every attempt is started; leaving the block joins the group, which
        # (wait=object) waits for the first one to return a socket and
        # cancels the others.

    if group.completed is None:
        raise OSError(f"could not connect to {hostname}:{port}: {errors}")
    # Two attempts may have connected at the same moment: keep one.
    for task in group.tasks:
        if task is not group.completed and task.terminated and task.exception is None and task.result:
            await task.result.close()
    return group.completed.result


async def main():
    # A listener on 127.0.0.1 only: where "localhost" also names ::1, that
    # attempt is refused and the recipe moves straight on to IPv4.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    async with listener:
        start = await curionet.clock()
        sock = await open_tcp_stream("localhost", port)
        async with sock:
            host, port = sock.getpeername()[:2]
            print(f"connected to {host} port {port} in {(await curionet.clock() - start) * 1000:.1f} ms")


if __name__ == "__main__":
    curionet.run(main)
