"""A standalone mongodb:// server backed by mongoeco's SQLite engine, for the wire test lane (scripts/test-wire.sh).

mongoeco ships the wire server only as a library (AsyncMongoEcoProxyServer) and needs Python >= 3.13, so this
runs in its own venv (.venv-wire), not in the project's. It keeps its data in one file, so a server killed with
SIGKILL and started again with the same arguments comes back on the same port with the same data.

    .venv-wire/bin/python scripts/mongoeco_server.py --port 27018 --data /tmp/x/db.sqlite --pidfile /tmp/x/pid
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire import AsyncMongoEcoProxyServer


async def serve(host: str, port: int, data: Path, pidfile: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # One executor worker: the same choice as mongoeco's own pytest kit, and SQLite serialises writes anyway.
    server = AsyncMongoEcoProxyServer(engine=SQLiteEngine(str(data), executor_workers=1), host=host, port=port)
    address = await server.start()
    try:
        # Written once listening, so whoever restarted the server can find (and later kill) this process.
        if pidfile is not None:
            pidfile.write_text(f"{os.getpid()}\n")
        print(f"mongoeco {address.uri} data={data}", flush=True)
        await stop.wait()
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="SQLite file holding every database")
    parser.add_argument("--pidfile", type=Path, help="written with this process's pid once it listens")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.data, args.pidfile))


if __name__ == "__main__":
    main()
