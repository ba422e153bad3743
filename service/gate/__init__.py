"""The gate: load logs, decide, append, project, publish; its shared context and due times."""
