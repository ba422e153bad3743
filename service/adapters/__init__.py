"""Adapters: the fact-log store, the outbox publisher, the Kafka plumbing."""
