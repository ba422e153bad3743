"""The command line (typer): run the service, sign decisions, inspect and verify the logs."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
audit = typer.Typer(no_args_is_help=True, help="Audit the hash-chained fact logs.")
app.add_typer(audit, name="audit")


@app.command()
def run() -> None:
    """Run the service (settings from the environment only)."""
    import uvicorn

    from service.adapters.gate_key import GateKeyError
    from service.cli.common import fail, settings_from_env
    from service.entrypoints.app import create_app, gate_key_of
    from service.settings import SettingsRefused

    settings = settings_from_env()
    try:
        asgi, service = create_app(settings)
        gate_key_of(settings)  # refused before anything listens (read again at start-up)
    except (SettingsRefused, GateKeyError) as refused:
        raise fail(str(refused)) from refused
    config = uvicorn.Config(
        asgi,
        host=settings.http_host,
        port=settings.http_port,
        lifespan="on",
        log_config=None,
        access_log=False,
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (the consumers finish and commit the
    # batch they hold), then raises the signal again under the handlers it found: these make
    # that a clean exit 0 instead of death by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server = uvicorn.Server(config)
    # Start-up runs beside HTTP (service/entrypoints/lifespan.py): if it fails, stop serving
    # and exit 3, as uvicorn does when a lifespan's start-up fails.
    service.startup.on_failure = lambda: setattr(server, "should_exit", True)
    asyncio.run(server.serve())
    if service.startup.failed is not None:
        raise typer.Exit(3)


@app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="the PKCS#8 PEM key file to create (mode 600)")],
) -> None:
    """Make an Ed25519 key pair for a release owner: the private key as PKCS#8 PEM (for the
    console and the CLI) and as a raw seed beside it, both mode 600 and never overwritten;
    print the public key for the governance file."""
    from service.cli.keys import generate_keypair, write_key_files

    seed, public = generate_keypair()
    try:
        seed_path = write_key_files(out, seed)
    except (FileExistsError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"private key written to {out} and {seed_path} (mode 600)")
    typer.echo(f"public_key: {base64.b64encode(public).decode()}")


@app.command("verify-manifest")
def verify_manifest(
    file: Annotated[
        Path, typer.Argument(help="a release-manifest CloudEvent as JSON, or its data object")
    ],
    public_key: Annotated[
        Path,
        typer.Option(
            "--public-key",
            help="the gate's public key: PEM public key, PEM private key or base64 raw key",
        ),
    ],
) -> None:
    """Verify a release manifest's attestation offline (no Kafka, no store): the DSSE
    signature by the given key, the in-toto statement, its subject (the manifest id and the
    recomputed manifest_hash) and every predicate field. Exit 0 verified, 1 a check failed
    (each named), 2 the file or the key unreadable."""
    from service.cli.verify import verify_files

    raise typer.Exit(verify_files(file, public_key))


_whole: list[typer.Typer] = []


def whole_app() -> typer.Typer:
    """The app with every command, those that talk to Kafka and the store included (they are
    imported here, not at import time of this module)."""
    if not _whole:
        from service.cli import commands, decisions

        decisions.register(app)
        commands.register(app, audit)
        _whole.append(app)
    return _whole[0]


def main() -> None:
    try:
        whole_app()()
    except KeyboardInterrupt:
        sys.exit(130)


def echo_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False))
