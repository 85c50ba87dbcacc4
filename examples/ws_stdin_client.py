"""A WebSocket client that sends the lines it reads from standard input and
prints what the server sends back.

    python examples/ws_stdin_client.py ws://127.0.0.1:8765/

Standard input is read in a thread (it cannot be waited on portably), which
hands each line to the kernel through a ``UniversalQueue``.
"""

import sys
import threading

import curionet


def read_lines(queue):
    for line in sys.stdin:
        queue.put(line.rstrip("\n"))
    queue.put(None)  # end of input


async def main(url):
    lines = curionet.UniversalQueue()
    threading.Thread(target=read_lines, args=(lines,), daemon=True).start()
    async with curionet.websocket_connect(url) as ws:

        async def show_replies():
            async for message in ws:
                print("<", message)

        async with curionet.TaskGroup(wait=None) as group:
            await group.spawn(show_replies)
            while (line := await lines.get()) is not None:
                await ws.send(line)
            await ws.ping()  # replies to what we sent are in before we leave
            await curionet.sleep(0.1)


if __name__ == "__main__":
    curionet.run(main, sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/")
