"""The service as a separate process, configured per test run, started and stopped for real."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from tests.support.builders import AUDITOR, AUDITOR_SEED, GATE_KEY_FILE
from tests.support.console import sign_in

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """`python -m service run` with its own prefix, database, group and port."""

    module = "service"  # what `python -m` runs (the bench may wrap the service)

    def __init__(
        self,
        workdir: Path,
        prefix: str,
        governance: Path,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.extra_env = dict(extra_env or {})
        self.log_path = workdir / f"service-{prefix}{self.port}.log"
        self.env = {
            **os.environ,
            "TOPIC_PREFIX": prefix,
            "MONGODB_DATABASE": prefix.strip("-").replace("-", "_"),
            "CONSUMER_GROUP": f"{prefix}gate",
            "HTTP_PORT": str(self.port),
            "GOVERNANCE_FILE": str(governance),
            "GATE_KEY_FILE": str(GATE_KEY_FILE),
            "SCHEDULER_INTERVAL_SECONDS": "0.2",
            "RELAY_INTERVAL_SECONDS": "0.5",
            "GOVERNANCE_POLL_SECONDS": "0.3",
            "MONITOR_INTERVAL_SECONDS": "0.5",
            "CHECKPOINT_INTERVAL_SECONDS": "0.5",
            "LOG_LEVEL": "INFO",
            # Early events wait this long for what they name (a short grace keeps the
            # tests of never-arriving revisions quick; the default is five minutes).
            "EARLY_EVENT_GRACE": "PT2S",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self, within: float = 60) -> None:
        self.launch()
        await self.wait_ready(within)

    def launch(self) -> None:
        """Start the process without waiting for it to be ready."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "run"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def wait_ready(self, within: float = 60) -> None:
        await self.readyz(within, lambda response: response.status_code == 200)

    async def readyz(
        self, within: float = 60, wanted: Callable[[httpx.Response], bool] = lambda _: True
    ) -> httpx.Response:
        """Poll /readyz until an answer is `wanted` (by default the first answer at all)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        async with httpx.AsyncClient(timeout=2) as client:
            while loop.time() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"service exited {self.proc.returncode}; see {self.log_path}"
                    )
                try:
                    response = await client.get(self.url + "/readyz")
                    if wanted(response):
                        return response
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)  # polling readiness: there is no event to await
        raise AssertionError(f"no wanted /readyz answer in {within}s; see {self.log_path}")

    def env_extra(self) -> dict[str, str]:
        """The settings this instance was given beyond the common ones (for a successor)."""
        return dict(self.extra_env)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commits."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.proc.wait)

    async def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 20)
            except TimeoutError:
                await self.kill()

    async def get(self, path: str) -> httpx.Response:
        """GET as the signed-in gate-wide auditor of the test governance, so that packet
        content, which needs a session, is readable whatever its lane; probes need none."""
        async with self.signed_in() as client:
            return await client.get(path)

    @contextlib.asynccontextmanager
    async def signed_in(
        self, identity: str = AUDITOR, seed: bytes = AUDITOR_SEED
    ) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            answer = await sign_in(client, identity, seed)
            assert answer.status_code == 200, f"sign-in as {identity}: {answer.text}"
            yield client

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`python -m service ARGS` with this instance's settings, `env` overriding some
        (e.g. another Kafka principal)."""
        return subprocess.run(
            [sys.executable, "-m", "service", *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
