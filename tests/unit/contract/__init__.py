"""Contract tests: vectors, decoding, payload limits, signatures, governance, schemas."""
