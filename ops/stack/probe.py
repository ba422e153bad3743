"""Wait until a local stack server answers a real request (used by stack.sh).

Usage: probe.py kafka|store ADDRESS [--timeout S] [--pid PID]
Exit 0 when it answers, 1 on timeout, 2 when the server process (--pid) has died.
Polling in one process keeps the driver imports to one per wait.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
import time

ATTEMPT_TIMEOUT_S = 2.0


async def kafka_answers(bootstrap: str) -> bool:
    """A metadata request that lists at least one broker."""
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await asyncio.wait_for(client.bootstrap(), ATTEMPT_TIMEOUT_S)
        return bool(client.cluster.brokers())
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        with contextlib.suppress(Exception):
            await client.close()


def store_answers(url: str) -> bool:
    """A `ping` command through PyMongo, the same driver the service uses."""
    from pymongo import MongoClient, uri_parser
    from pymongo.errors import PyMongoError

    # A closed port fails fast here; PyMongo would wait its whole selection timeout.
    if not port_open(*uri_parser.parse_uri(url)["nodelist"][0]):
        return False

    timeout_ms = int(ATTEMPT_TIMEOUT_S * 1000)
    client: MongoClient[dict[str, object]] = MongoClient(
        url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        return client.admin.command("ping").get("ok") == 1
    except PyMongoError:
        return False
    finally:
        client.close()


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=ATTEMPT_TIMEOUT_S):
            return True
    except OSError:
        return False


def alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); /proc tells the truth on Linux.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("component", choices=["kafka", "store"])
    parser.add_argument("address")
    parser.add_argument("--timeout", type=float, default=0.0, help="0: try once")
    parser.add_argument("--pid", type=int, default=None)
    args = parser.parse_args()
    # aiokafka logs every refused connection at ERROR; the exit code is the answer here.
    logging.disable(logging.CRITICAL)

    deadline = time.monotonic() + args.timeout
    while True:
        if args.component == "kafka":
            ok = asyncio.run(kafka_answers(args.address))
        else:
            ok = store_answers(args.address)
        if ok:
            return 0
        if not alive(args.pid):
            return 2
        if time.monotonic() >= deadline:
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
