"""Tests of the ops artefacts: metrics module, Prometheus rules, Grafana dashboard."""
