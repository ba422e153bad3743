"""The ceiling: a bare pipeline with the service's discipline and none of its domain.

`python -m tests.bench.bare --prefix P --database D` runs as its own process (as the
service does): aiokafka consume (a group, manual commits, batches of up to 200) -> one
compare-and-set insert per message (the unique `_id` decides, a duplicate key means
"already done") -> aiokafka produce (idempotent, acks=all) -> commit once every produce of
the batch is acknowledged. Partitions of a batch run side by side, each in order, as in
service/entrypoints/consume.py. `--ack batch` awaits the produce acks once per partition batch
instead of after each message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from tests.support import kafka

IN, OUT = "bare-in", "bare-out"


async def serve(args: argparse.Namespace) -> None:
    group = args.prefix + "bare"
    consumer = kafka.make_group_consumer(args.bootstrap, args.prefix + IN, group=group)
    producer = kafka.make_producer(args.bootstrap)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(args.mongodb_url, tz_aware=True)
    facts = client[args.database]["facts"]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await producer.start()
    await consumer.start()

    async def one_partition(tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        acks = []
        for rec in records:
            key = rec.key.decode() if rec.key else ""
            doc = {
                "_id": f"{key}@{tp.partition}:{rec.offset}/1",
                "packet_id": key,
                "seq": 1,
                "data": rec.value.decode(),
                "published": True,
            }
            with contextlib.suppress(DuplicateKeyError):  # a redelivery: already appended
                await facts.insert_one(doc)
            ack = await producer.send(
                args.prefix + OUT,
                rec.value,
                key=rec.key,
                headers=[("src", f"{tp.partition}:{rec.offset}".encode())],
            )
            if args.ack == "message":
                await ack
            else:
                acks.append(ack)
        await asyncio.gather(*acks)

    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=200)
            if batch:
                await asyncio.gather(*(one_partition(tp, recs) for tp, recs in batch.items()))
                await consumer.commit()  # only after every produce of the batch is acked
    finally:
        await consumer.stop()
        await producer.stop()
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--mongodb-url", default="mongodb://127.0.0.1:27017")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--ack", choices=("message", "batch"), default="message")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
