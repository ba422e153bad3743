"""Release gate: governs which recommendation packets may be released, and to whom."""
