"""Entry points: the ASGI/FastStream app, the shared consume path, background loops, HTTP."""
