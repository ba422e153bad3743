"""The service, the CLI and other clients against the local broker's SASL_SSL listener.

`ops/stack/stack.sh` gives Kafka a SASL_SSL listener beside PLAINTEXT (SCRAM-SHA-512 users made
at format time, a CA made on this machine, ACLs by StandardAuthorizer; docs/security.md) and
exports where it listens (STACK_KAFKA_SASL_SSL) and where its CA and passwords are
(STACK_KAFKA_SECRETS). The principals and their ACLs are ops/stack/kafka/security.py's: `gate`
(the service), `upstream` (packet-ready, evidence-changed, forward-request), `owner`
(approval-decision) and `downstream` (reads the outputs). Topics here carry the prefix
`sasl-`, the one those ACLs name. The last test greps every log of the module for the secrets.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from pymongo import AsyncMongoClient

from service.domain.canonical import manifest_id
from tests.support import kafka
from tests.support.builders import (
    AUDIENCE,
    OWNER,
    OWNER_SEED,
    approval,
    envelope,
    evidence_changed,
    governance_yaml,
    new_id,
    packet,
    subject_of,
)
from tests.support.bus import Bus
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.stack

PREFIX = "sasl-"  # the prefix the local stack's ACLs name (ops/stack/kafka/security.py)
PLAINTEXT = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
WRONG_PASSWORD = "not-the-gate-password-" + base64.b32encode(os.urandom(10)).decode()


@dataclass(frozen=True)
class Listener:
    bootstrap: str
    secrets: Path

    @property
    def ca(self) -> Path:
        return self.secrets / "ca.pem"

    @property
    def untrusted_ca(self) -> Path:
        return self.secrets / "untrusted-ca.pem"

    def password_file(self, user: str) -> Path:
        return self.secrets / f"{user}.password"

    def password(self, user: str) -> str:
        return self.password_file(user).read_text().strip()

    def client(self, user: str, password: str | None = None, ca: Path | None = None) -> dict:
        """aiokafka options of `user`, with its own password and the stack's CA by default."""
        return kafka.sasl_ssl(user, password or self.password(user), ca or self.ca)

    def service_env(self, user: str, password_file: Path | None = None) -> dict[str, str]:
        """The settings of service/settings.py that make the service (or the CLI) `user`."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD_FILE": str(password_file or self.password_file(user)),
            "KAFKA_SSL_CAFILE": str(self.ca),
        }

    def secrets_used(self) -> dict[str, str]:
        found = {f"{u} password": self.password(u) for u in ("gate", "upstream", "owner")}
        found["downstream password"] = self.password("downstream")
        found["the wrong password"] = WRONG_PASSWORD
        key = (self.secrets / "broker-keystore.pem").read_text()
        # The broker's private key, by a line of its base64 body.
        found["broker key"] = key.splitlines()[1]
        return found


@pytest.fixture(scope="module")
def listener() -> Listener:
    bootstrap, secrets = (
        os.environ.get("STACK_KAFKA_SASL_SSL"),
        os.environ.get("STACK_KAFKA_SECRETS"),
    )
    assert bootstrap and secrets, "run under ops/stack/stack.sh run (it exports STACK_KAFKA_*)"
    return Listener(bootstrap, Path(secrets))


@pytest.fixture(scope="module")
def logs() -> list[Path]:
    """Every service log file of this module, for the last test."""
    return []


@pytest.fixture(scope="module")
def answers() -> list[str]:
    """Every HTTP answer body of a service of this module, for the last test."""
    return []


async def drop_database() -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    )
    try:
        await client.drop_database(PREFIX.strip("-"))
    finally:
        await client.close()


@pytest.fixture(scope="module")
async def gate(
    listener: Listener, logs: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    """The service as the `gate` principal over SASL_SSL, its password from a file."""
    await drop_database()  # a run that died left its facts; its topics and records are harmless
    workdir = tmp_path_factory.mktemp("sasl")
    governance = workdir / "lanes.yaml"
    governance.write_text(governance_yaml())
    env = {"HEARTBEAT_INTERVAL_MS": "300", **listener.service_env("gate")}
    service = ServiceProcess(workdir, PREFIX, governance, extra_env=env)
    logs.append(service.log_path)
    try:
        await service.start(within=90)
        yield service
    finally:
        await service.stop()
        await kafka.delete_topics(PLAINTEXT, prefix=PREFIX)  # as the super user ANONYMOUS
        await drop_database()


@pytest.fixture(scope="module")
async def bus(listener: Listener, gate: ServiceProcess) -> AsyncIterator[Bus]:
    """`upstream` sends, `downstream` reads the outputs: both over SASL_SSL."""
    bus = Bus(
        listener.bootstrap,
        PREFIX,
        producer_options=listener.client("upstream"),
        consumer_options=listener.client("downstream"),
    )
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()


async def test_the_seed_scenario_runs_over_sasl_ssl_with_the_service_the_cli_and_each_principal(
    listener: Listener,
    gate: ServiceProcess,
    bus: Bus,
    answers: list[str],
    tmp_path: Path,
) -> None:
    pid, impact = new_id("RP-SASL"), new_id("INC")
    r1, r2 = packet(pid, 1, impact=(impact, "7")), packet(pid, 2, impact=(impact, "7"))
    r3 = packet(pid, 3, impact=(impact, "8"))
    # The upstream workspace: two revisions, then the impact estimate hardens.
    await bus.send("packet-ready", r1, event_id=f"{pid}-r1")
    await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:pending", within=60)
    await bus.send("packet-ready", r2, event_id=f"{pid}-r2")
    await bus.wait_for("packet-lifecycle", f"{pid}@r1:lifecycle:superseded")
    await bus.wait_for("packet-lifecycle", f"{pid}@r2:lifecycle:pending")
    await bus.send("evidence-changed", evidence_changed("incident-impact", impact, "8"))
    await bus.wait_for("packet-lifecycle", f"{pid}@r2:lifecycle:superseded")
    await bus.send("packet-ready", r3, event_id=f"{pid}-r3")
    await bus.wait_for("packet-lifecycle", f"{pid}@r3:lifecycle:pending")

    # The release owner signs with the CLI, which publishes as the `owner` principal.
    key = tmp_path / "owner.seed"
    key.write_text(base64.b64encode(OWNER_SEED).decode())
    owner = listener.service_env("owner")
    approve = gate.cli(
        "approve", pid, "3", "--approver", OWNER, "--key-file", str(key),
        "--audience", ",".join(AUDIENCE), env=owner,
    )  # fmt: skip
    assert approve.returncode == 0, approve.stderr
    await bus.wait_for("packet-lifecycle", f"{pid}@r3:lifecycle:approved")
    [manifest] = await bus.wait_for("release-manifest", f"{manifest_id(pid, 3)}:released")
    assert manifest["data"]["audience"] == AUDIENCE
    assert [o["option_id"] for o in manifest["data"]["options"]] == [
        o["option_id"] for o in r3["options"]
    ]
    assert len(manifest["data"]["blocked_requests"]) == 3

    # A forward with the CLI as `upstream`: allowed, read back by `downstream`.
    request = new_id("FR")
    forward = gate.cli(
        "forward", pid, "3", "--to", "exec:general-counsel", "--request-id", request,
        env=listener.service_env("upstream"),
    )  # fmt: skip
    assert forward.returncode == 0, forward.stderr
    await bus.wait_for("forward-allowed", f"{request}:allowed")

    # The gate writes its audit checkpoints (Write on audit-checkpoint); `downstream` reads
    # them back, on the bus and with `audit checkpoints`.
    def covers_r3(e: dict) -> bool:
        return any(leaf[0].startswith(f"{pid}@r3/") for leaf in e["data"]["leaves"])

    [checkpoint, *_] = await bus.wait_for("audit-checkpoint", covers_r3)
    exported = tmp_path / "checkpoints.jsonl"
    export = gate.cli(
        "audit", "checkpoints", "--out", str(exported), env=listener.service_env("downstream")
    )
    assert export.returncode == 0, export.stderr
    assert checkpoint["id"] in {
        json.loads(line)["id"] for line in exported.read_text().splitlines()
    }

    async with httpx.AsyncClient(timeout=10) as client:
        ready = await client.get(gate.url + "/readyz")
        answers.extend([ready.text, (await client.get(gate.url + "/metrics")).text])
    assert ready.status_code == 200, ready.text
    assert bus.conflicts() == []


async def refusal(caplog: pytest.LogCaptureFixture, listener: Listener, options: dict) -> list[str]:
    """Start a producer with `options`; it must be refused. The reasons aiokafka logged."""
    producer = kafka.make_producer(listener.bootstrap, request_timeout_ms=5000, **options)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        try:
            with pytest.raises(KafkaConnectionError):
                await producer.start()
        finally:
            await producer.stop()
    return [r.getMessage() for r in caplog.records if r.name.startswith("aiokafka")]


async def test_a_wrong_password_no_trusted_ca_and_an_untrusted_ca_are_each_refused(
    listener: Listener, gate: ServiceProcess, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = await refusal(caplog, listener, listener.client("gate", password=WRONG_PASSWORD))
    assert any("SaslAuthenticationFailed" in m for m in wrong), wrong
    # The system's CAs only (no KAFKA_SSL_CAFILE): the stack's CA is not among them.
    system = kafka.sasl_ssl("gate", listener.password("gate"), None)
    assert any("CERTIFICATE_VERIFY_FAILED" in m for m in await refusal(caplog, listener, system))
    other = listener.client("gate", ca=listener.untrusted_ca)
    assert any("CERTIFICATE_VERIFY_FAILED" in m for m in await refusal(caplog, listener, other))
    # The same principal with its password and the stack's CA gets in.
    async with kafka.producer(listener.bootstrap, **listener.client("gate")) as producer:
        assert await producer.partitions_for(PREFIX + "dead-letter")


async def test_a_principal_without_write_on_approval_decision_cannot_produce_to_it(
    listener: Listener, gate: ServiceProcess
) -> None:
    async with kafka.producer(listener.bootstrap, **listener.client("upstream")) as producer:
        pkt = packet(new_id("RP-SASL"), 1)
        ready = envelope("packet-ready", pkt, new_id("evt"), subject_of("packet-ready", pkt))
        # It may write packet-ready ...
        await producer.send_and_wait(PREFIX + "packet-ready", json.dumps(ready).encode())
        # ... but not approval-decision (which exists: the gate created it), not even an
        # approval that the owner's key signed.
        signed = approval(pkt)
        event = envelope(
            "approval-decision", signed, new_id("evt"), subject_of("approval-decision", signed)
        )
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(PREFIX + "approval-decision", json.dumps(event).encode())


async def test_a_service_with_a_wrong_password_is_unready_says_why_and_never_shows_the_password(
    listener: Listener,
    gate: ServiceProcess,
    logs: list[Path],
    answers: list[str],
    tmp_path: Path,
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text(WRONG_PASSWORD + "\n")
    governance = tmp_path / "lanes.yaml"
    governance.write_text(governance_yaml())
    env = listener.service_env("gate", password_file=wrong)
    service = ServiceProcess(tmp_path, PREFIX, governance, extra_env=env)
    logs.append(service.log_path)
    service.launch()
    try:
        answer = await service.readyz(60, lambda r: "SaslAuthenticationFailed" in r.text)
        async with httpx.AsyncClient(timeout=10) as client:
            others = [await client.get(service.url + p) for p in ("/healthz", "/metrics")]
    finally:
        await service.stop()
    assert answer.status_code == 503
    body = answer.json()
    assert body["ready"] is False
    assert body["starting"].startswith("waiting for kafka: ")
    assert "SaslAuthenticationFailed" in body["starting"]
    assert [r.status_code for r in others] == [200, 503]  # alive, but nothing else yet
    answers.extend([answer.text, *(r.text for r in others)])
    log = service.log_path.read_text()
    assert "SaslAuthenticationFailed" in log
    assert '"waiting for kafka at start-up"' in log
    assert service.proc is not None and service.proc.returncode == 0  # stopped while waiting
    for text in (log, *answers):
        assert WRONG_PASSWORD not in text


async def test_no_secret_appears_in_any_log_or_answer_of_the_services(
    listener: Listener, gate: ServiceProcess, logs: list[Path], answers: list[str]
) -> None:
    """Run last in this module: the gate is stopped first, so its whole log is read."""
    await gate.stop()
    assert len(logs) == 2 and len(answers) >= 5
    texts = {str(path): path.read_text() for path in logs}
    texts |= {f"answer {n}": body for n, body in enumerate(answers)}
    assert all(texts.values())
    leaks = [
        f"{name} in {where}"
        for name, secret in listener.secrets_used().items()
        for where, text in texts.items()
        if secret in text
    ]
    assert leaks == []
