"""The wire contract: CloudEvents envelope, payload models, decoding and generated schemas."""
