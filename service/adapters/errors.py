"""Which failures are the infrastructure's (retry, never dead-letter) and whose they are."""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaError
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WriteConcernError


class AppendRaceLost(RuntimeError):
    """Every retry lost the race for the next seq: let the message be redelivered."""


class ListsContended(RuntimeError):
    """A list append kept finding its positions taken (service/adapters/mongo_lists.py)."""


STORE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,  # includes AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
    ExecutionTimeout,
    WriteConcernError,
)
KAFKA_ERRORS: tuple[type[BaseException], ...] = (KafkaError, asyncio.TimeoutError)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    *STORE_ERRORS,
    *KAFKA_ERRORS,
    AppendRaceLost,
    ListsContended,
    ConnectionError,
)


def is_transient(exc: BaseException) -> bool:
    """An outage to wait out. A Kafka error the broker calls non-retriable (a record too
    large, an invalid topic) is not one: retrying it would stall the partition forever."""
    if isinstance(exc, KafkaError) and not getattr(exc, "retriable", True):
        return False
    return isinstance(exc, TRANSIENT_ERRORS)


def dependency_of(exc: BaseException) -> str:
    return "store" if isinstance(exc, (*STORE_ERRORS, AppendRaceLost, ListsContended)) else "kafka"
