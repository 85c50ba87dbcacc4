"""A line-based chat server: every line a client sends goes to every other client.

    python examples/chat_server.py [PORT]      (default 25000)

Connect a few ``nc 127.0.0.1 25000`` sessions and type.  Each client has its
own outgoing queue and writer task, so a slow client never stalls the others.
"""

import sys

import curionet

clients = set()


async def writer(stream, queue):
    while True:
        line = await queue.get()
        await stream.write(line)


async def chat_client(client, addr):
    name = f"{addr[0]}:{addr[1]}".encode()
    stream = client.as_stream()
    queue = curionet.Queue(maxsize=100)
    async with curionet.TaskGroup(wait=any) as group:
        await group.spawn(writer, stream, queue)
        clients.add(queue)
        try:
            await broadcast(queue, b"* " + name + b" joined\n")
            async for line in stream:
                await broadcast(queue, name + b": " + line)
        finally:
            clients.discard(queue)
            await broadcast(queue, b"* " + name + b" left\n")
            await group.cancel_remaining()


async def broadcast(sender, line):
    for queue in list(clients):
        if queue is not sender and not queue.full():  # drop lines for a stuck client
            await queue.put(line)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 25000
    print(f"Chat server listening at 127.0.0.1:{port}", flush=True)
    try:
        curionet.run(curionet.tcp_server, "127.0.0.1", port, chat_client)
    except KeyboardInterrupt:
        pass
