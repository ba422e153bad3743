"""Telemetry: Prometheus metrics, KPI counting from facts, readiness state, JSON logs."""
