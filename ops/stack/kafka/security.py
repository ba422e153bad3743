"""The local Kafka's SASL_SSL listener: its certificates, SCRAM users and ACLs (for stack.sh).

Usage: security.py prepare DIR      make what is missing in DIR (mode 700): a CA, the broker's
                                    certificate for 127.0.0.1 and localhost signed by it (and
                                    its PEM key store), a second CA that signed nothing the
                                    broker uses, and one random password per principal
       security.py scram-args DIR   StorageTool's --add-scram arguments, one a line (secret!)
       security.py format-stamp DIR what the formatted storage must match: the users and a
                                    digest of their passwords
       security.py acls             AclCommand's arguments, one invocation a line
       security.py acl-stamp        a digest of those lines

Everything here is for the local stack only: the keys are unencrypted files under .local/run/,
made on this machine and never committed. Nothing secret is printed except by `scram-args`,
whose output stack.sh passes to StorageTool and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import secrets
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from service.settings import INPUT_TOPICS, OUTPUT_TOPICS  # noqa: E402

MECHANISM = "SCRAM-SHA-512"
# The SCRAM principals of the local stack and what each stands for (docs/security.md).
USERS = ("gate", "upstream", "owner", "downstream")
# The ACLs are literal, on the logical topic names under these prefixes: none (`make run`
# with TOPIC_PREFIX unset) and the one tests/security/test_kafka_sasl_ssl.py uses.
ACL_PREFIXES = ("", "sasl-")
# Consumer groups of the gate: the default CONSUMER_GROUP, and the one tests/support/service.py
# gives a service whose prefix is `sasl-`.
GATE_GROUPS = ("release-gate", "sasl-gate")
UPSTREAM_WRITES = ("packet-ready", "evidence-changed", "forward-request")
VALID = dt.timedelta(days=30)
RENEW_BEFORE = dt.timedelta(days=2)


def acl_lines() -> list[list[str]]:
    """Each AclCommand invocation's arguments (bootstrap server added by stack.sh)."""

    def topics(names: tuple[str, ...]) -> list[str]:
        return [arg for p in ACL_PREFIXES for n in names for arg in ("--topic", p + n)]

    def grant(user: str, operations: tuple[str, ...], resources: list[str]) -> list[str]:
        ops = [arg for op in operations for arg in ("--operation", op)]
        return ["--add", "--force", "--allow-principal", f"User:{user}", *ops, *resources]

    groups = [arg for g in GATE_GROUPS for arg in ("--group", g)]
    everything = (*INPUT_TOPICS, *OUTPUT_TOPICS)
    return [
        # The gate: its five consumers and their group (service/entrypoints/app.py) ...
        grant("gate", ("Read",), topics(INPUT_TOPICS) + groups),
        # ... the outbox, dead letters and the console's decisions ...
        grant("gate", ("Write",), topics((*OUTPUT_TOPICS, "approval-decision"))),
        # ... creating missing topics at start-up and describing them (kafka_topics.py).
        grant("gate", ("Create", "Describe"), topics(everything)),
        # The upstream workspace, evidence owners and forwarders of the local stack: never
        # approval-decision.
        grant("upstream", ("Write",), topics(UPSTREAM_WRITES)),
        # Release owners' tooling (`python -m service approve/reject`).
        grant("owner", ("Write",), topics(("approval-decision",))),
        # Downstream routing and the tests' observer: read the outputs without a group.
        grant("downstream", ("Read",), topics(OUTPUT_TOPICS)),
    ]


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, mode)
    tmp.replace(path)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _fresh(path: Path, now: dt.datetime) -> bool:
    if not path.exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.not_valid_after_utc - RENEW_BEFORE > now


def make_ca(name: str, now: dt.datetime) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(
    ca_key: rsa.RSAPrivateKey, ca: x509.Certificate, now: dt.datetime
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALID)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def prepare(where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    os.chmod(where, 0o700)
    now = dt.datetime.now(dt.UTC)
    ca_path, ca_key_path = where / "ca.pem", where / "ca-key.pem"
    new_ca = not (_fresh(ca_path, now) and ca_key_path.exists())
    if new_ca:
        ca_key, ca = make_ca("release-gate local Kafka CA", now)
        _write(ca_key_path, _key_pem(ca_key), 0o600)
        _write(ca_path, _pem(ca))
    else:
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        ca_key, ca = loaded, x509.load_pem_x509_certificate(ca_path.read_bytes())
    broker = where / "broker.pem"
    if new_ca or not _fresh(broker, now) or not (where / "broker-keystore.pem").exists():
        key, cert = make_server_cert(ca_key, ca, now)
        _write(broker, _pem(cert))
        # Kafka's PEM key store: the unencrypted PKCS#8 key, then the chain (ssl.keystore.type=PEM).
        _write(where / "broker-keystore.pem", _key_pem(key) + _pem(cert) + _pem(ca), 0o600)
    untrusted = where / "untrusted-ca.pem"
    if not _fresh(untrusted, now):
        _, other = make_ca("release-gate local Kafka CA (untrusted: signed nothing)", now)
        _write(untrusted, _pem(other))
    for user in USERS:
        path = where / f"{user}.password"
        if not path.exists():
            _write(path, secrets.token_hex(24).encode() + b"\n", 0o600)


def password(where: Path, user: str) -> str:
    return (where / f"{user}.password").read_text().strip()


def main(argv: list[str]) -> int:
    command, args = argv[0] if argv else "", argv[1:]
    if command == "prepare":
        prepare(Path(args[0]))
    elif command == "scram-args":
        for user in USERS:
            print(f"{MECHANISM}=[name={user},password={password(Path(args[0]), user)}]")
    elif command == "format-stamp":
        digest = hashlib.sha256()
        for user in USERS:
            digest.update(f"{MECHANISM}:{user}:{password(Path(args[0]), user)}\n".encode())
        print(f"{','.join(USERS)} {digest.hexdigest()}")
    elif command == "acls":
        for line in acl_lines():
            print(" ".join(line))
    elif command == "acl-stamp":
        print(hashlib.sha256(repr(acl_lines()).encode()).hexdigest())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
