"""The attacker of the idle-connection test, in a process of its own so that its
reconnections do not slow the test's own measurements: `python -m tests.security.slowloris
PORT SOCKETS SECONDS` holds SOCKETS connections, each with an unfinished request head,
reconnecting whenever the server drops one, then prints how long each drop took (JSON)."""

import asyncio
import json
import sys
import time

UNFINISHED_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"


async def hold(port: int, until: float, dropped_after: list[float]) -> None:
    while time.monotonic() < until:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connected = time.monotonic()
        writer.write(UNFINISHED_HEAD)
        try:
            await asyncio.wait_for(reader.read(), timeout=until - time.monotonic())
            dropped_after.append(time.monotonic() - connected)
        except TimeoutError:
            pass
        finally:
            writer.close()


async def main(port: int, sockets: int, seconds: float) -> None:
    dropped_after: list[float] = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(hold(port, until, dropped_after) for _ in range(sockets)))
    print(json.dumps(dropped_after))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
