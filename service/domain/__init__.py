"""The pure functional core: states, facts, fold and decide. No I/O, no clock."""
