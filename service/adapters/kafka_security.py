"""How every Kafka client connects: one FastStream security object, built from the settings.

The broker of the service takes it as is; the admin client, the lag monitor, the CLI's
producer and watcher take the same thing as aiokafka keyword arguments (FastStream's own
translation, `parse_security`), so no client of the process can connect differently.
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from service.settings import Settings, SettingsRefused

SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verify the broker against KAFKA_SSL_CAFILE (or the system's CAs); present a client
    certificate when one is configured (mTLS)."""
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    context = ssl.create_default_context(cafile=cafile)
    if settings.kafka_ssl_certfile is not None:
        password = settings.kafka_ssl_key_password
        context.load_cert_chain(
            str(settings.kafka_ssl_certfile),
            str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            password.get_secret_value() if password else None,
        )
    return context


def kafka_security(settings: Settings) -> BaseSecurity | None:
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    tls = ssl_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=tls, use_ssl=True)
    user, password = settings.kafka_sasl_username, settings.kafka_sasl_password
    if not user or password is None:
        raise SettingsRefused(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
    sasl = SASL[settings.kafka_sasl_mechanism]
    return sasl(user, password.get_secret_value(), ssl_context=tls, use_ssl=protocol == "SASL_SSL")


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: the servers and the same security."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        **parse_security(kafka_security(settings)),
    }
