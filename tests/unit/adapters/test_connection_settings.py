"""Connection settings: every Kafka client secured alike, secrets from files, typos refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from faststream.security import SASLScram512
from typer.testing import CliRunner

from service.adapters.kafka_security import client_options, kafka_security
from service.adapters.kafka_topics import refusals
from service.cli.main import whole_app
from service.settings import Settings, SettingsRefused, load_settings, unknown_settings


def test_plaintext_is_the_default_and_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)  # stack.sh run exports it
    settings = Settings()
    assert kafka_security(settings) is None
    assert client_options(settings) == {"bootstrap_servers": "127.0.0.1:9092"}


def test_a_list_of_bootstrap_servers_reaches_the_service_broker_as_a_list() -> None:
    from service.entrypoints.app import Service

    listed = "127.0.0.1:29092, 127.0.0.1:29094,127.0.0.1:29096"
    settings = Settings(kafka_bootstrap_servers=listed)
    assert settings.bootstrap_servers() == [f"127.0.0.1:{p}" for p in (29092, 29094, 29096)]
    broker = Service(settings).broker
    assert broker._connection_kwargs["bootstrap_servers"] == settings.bootstrap_servers()


def test_sasl_ssl_with_scram_gives_every_client_the_same_credentials_and_tls() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="gate",
        kafka_sasl_password="s3cret-pw",  # type: ignore[arg-type]
    )
    security = kafka_security(settings)
    assert isinstance(security, SASLScram512) and security.use_ssl
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("gate", "s3cret-pw")
    assert options["ssl_context"] is not None


def test_sasl_without_credentials_is_refused_at_start() -> None:
    with pytest.raises(SettingsRefused, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        kafka_security(Settings(kafka_security_protocol="SASL_PLAINTEXT"))


def test_a_misspelt_security_or_store_setting_is_named_with_what_was_meant() -> None:
    found = unknown_settings(
        {"KAFKA_SASL_MECHANISMS": "PLAIN", "MONGODB_URI": "x", "KAFKA_PORT": "9092", "HOME": "/"}
    )
    assert found == [
        "KAFKA_SASL_MECHANISMS (did you mean KAFKA_SASL_MECHANISM?)",
        "MONGODB_URI (did you mean MONGODB_URL?)",
    ]
    with pytest.raises(SettingsRefused, match="KAFKA_SASL_MECHANISMS"):
        load_settings({"KAFKA_SASL_MECHANISMS": "PLAIN"})


def test_secrets_come_from_files_and_never_show_in_the_settings_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pw").write_text("from-a-file\n")
    (tmp_path / "url").write_text("mongodb://gate:hunter22@db:27017\n")
    for name in ("KAFKA_SASL_PASSWORD", "MONGODB_URL"):  # the variable itself would win
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "pw"))
    monkeypatch.setenv("MONGODB_URL_FILE", str(tmp_path / "url"))
    settings = load_settings()
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "from-a-file"
    assert settings.mongodb_url.get_secret_value() == "mongodb://gate:hunter22@db:27017"
    assert "from-a-file" not in repr(settings) and "hunter22" not in repr(settings)


def test_the_service_refuses_to_start_on_a_misspelt_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SSL_CA_FILE", "/etc/ca.pem")
    result = CliRunner().invoke(whole_app(), ["run"])
    assert result.exit_code == 2
    assert "KAFKA_SSL_CA_FILE (did you mean KAFKA_SSL_CAFILE?)" in result.output


def test_an_unreadable_secret_file_or_missing_credentials_stop_the_service_with_a_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", "/nonexistent/pw")
    unreadable = CliRunner().invoke(whole_app(), ["run"])
    assert unreadable.exit_code == 2
    assert "KAFKA_SASL_PASSWORD_FILE: cannot read /nonexistent/pw" in unreadable.output
    monkeypatch.delenv("KAFKA_SASL_PASSWORD_FILE")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    missing = CliRunner().invoke(whole_app(), ["run"])
    assert missing.exit_code == 2
    assert "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD" in missing.output


def test_a_refused_topic_creation_names_the_topic_and_the_reason() -> None:
    class Response:
        def __init__(self) -> None:
            self.topic_errors = [
                ("t-ok", 0, None),
                ("t-exists", 36, "exists"),
                ("t-acl", 29, "denied"),
                ("t-moving", 41, None),
            ]

    assert refusals(Response()) == ["t-acl: denied"]
    assert refusals(Response(), retriable=True) == ["t-moving: NotControllerError"]


def test_the_service_refuses_to_start_without_its_gate_key_or_with_a_key_that_is_not_ed25519(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GATE_KEY_FILE", raising=False)
    missing = CliRunner().invoke(whole_app(), ["run"])
    assert missing.exit_code == 2
    assert "GATE_KEY_FILE is not set" in missing.output
    secret_looking = tmp_path / "gate.pem"
    secret_looking.write_text("not-a-key-but-a-secret-sentence")
    monkeypatch.setenv("GATE_KEY_FILE", str(secret_looking))
    wrong = CliRunner().invoke(whole_app(), ["run"])
    assert wrong.exit_code == 2
    assert f"{secret_looking} is not an unencrypted PKCS#8 PEM" in wrong.output
    assert "secret-sentence" not in wrong.output
