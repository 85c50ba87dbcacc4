"""A chat room: every message a client sends is broadcast to everyone.

    python examples/ws_chat_room.py [PORT]

Open several clients (``python -m curionet ws ws://127.0.0.1:8766/?name=ann``)
and type.  ``broadcast`` never waits for a slow client: one that does not
read falls behind and misses messages instead of stalling the room.
"""

import sys
from urllib.parse import parse_qs, urlsplit

import curionet

members = set()


async def chat(ws):
    name = parse_qs(urlsplit(ws.path).query).get("name", [f"guest{ws.remote_address[1]}"])[0]
    members.add(ws)
    await curionet.broadcast(members, f"* {name} joined ({len(members)} here)")
    try:
        async for message in ws:
            if isinstance(message, str):
                await curionet.broadcast(members, f"{name}: {message}")
    finally:
        members.discard(ws)
        await curionet.broadcast(members, f"* {name} left")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8766
    print(f"chat room on ws://127.0.0.1:{port}/?name=YOURNAME")
    try:
        curionet.run(curionet.websocket_server, "127.0.0.1", port, chat)
    except KeyboardInterrupt:  # Ctrl-C: open connections were closed with 1001
        pass
