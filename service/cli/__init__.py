"""The command line: run the service, sign decisions, inspect and verify logs, the demo."""
