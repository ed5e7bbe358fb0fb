"""Webhook destination for Tracardi.

Sends Tracardi profiles and events to Webhook as JSON over HTTP.
"""

import functools
from typing import Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, SecretStr

from tracardi.process_engine.destination.transport import require_runtime
from tracardi.process_engine.destination.transport.connector import RecordConnector
from tracardi.process_engine.destination.transport.http import deliver, http_settings
from tracardi.process_engine.destination.transport.record import DispatchRecord
from tracardi.process_engine.destination.transport.validation import derived_once

require_runtime("1.0.0", __file__)

DESTINATION_NAME = "Webhook"

AuthTypeChoice = Literal["none", "bearer", "basic", "api_key"]
MethodChoice = Literal["POST", "PUT", "PATCH"]


class WebhookCredentials(BaseModel):
    """The resource's credentials, production or test."""

    model_config = ConfigDict(frozen=True)

    url: AnyUrl = Field(
        description="Where records go: an http:// or https:// URL, with no user name in it.",
    )
    auth_type: AuthTypeChoice = Field(
        default="none",
        description="bearer and api_key send the token; basic the username and password.",
    )
    token: SecretStr | None = Field(
        default=None,
        description="The bearer token (auth_type bearer) or the API key (auth_type api_key).",
    )
    username: str | None = Field(
        default=None,
        description="User name for auth_type basic.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="Password for auth_type basic.",
    )
    api_key_header: str = Field(
        default="X-API-Key",
        description="The header that carries the API key for auth_type api_key.",
    )
    signing_secret: SecretStr | None = Field(
        default=None,
        description="When set, X-Signature-256 carries the HMAC-SHA256 of the body.",
    )
    ssl_ca_file: str = Field(
        default="",
        description=(
            "Path to a PEM file of the certificate authorities to trust for an https:// URL, for a server whose "
            "certificate an internal CA signed; empty means the system's."
        ),
    )


class WebhookConfiguration(BaseModel):
    """The destination's settings: its init."""

    model_config = ConfigDict(frozen=True)

    method: MethodChoice = Field(
        default="POST",
        description="The HTTP method of every request; the record is its JSON body.",
    )
    headers: dict[str, str] = Field(
        default={},
        description="Headers added to every request (not Authorization or the auth headers).",
    )
    timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest one attempt may take, from connecting to the end of the answer.",
    )
    connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Longest an attempt waits for its TCP (and TLS) connection.",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Attempts per record; only failures that may pass are retried.",
    )
    deadline_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Longest one dispatch may take: its attempts and the waits between them.",
    )
    max_retry_after_seconds: float = Field(
        default=10.0,
        ge=0,
        description="Longest wait a server's Retry-After may ask for; more fails at once.",
    )
    verify_tls: bool = Field(
        default=True,
        description="Check the server's TLS certificate. Off only for a test server.",
    )
    max_body_bytes: int = Field(
        default=1048576,
        ge=1,
        description="A record whose JSON is larger is refused before anything is sent.",
    )
    unreachable_backoff_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long dispatches fail at once after one could not reach the URL.",
    )


_http_settings = functools.partial(http_settings, DESTINATION_NAME, "webhook")


class WebhookConnector(RecordConnector[WebhookCredentials, WebhookConfiguration]):
    """Tracardi builds a new instance for every dispatch, so nothing is kept on the instance."""

    destination_name = DESTINATION_NAME
    credentials_model = WebhookCredentials
    configuration_model = WebhookConfiguration

    async def _send(
        self, credentials: WebhookCredentials, configuration: WebhookConfiguration, record: DispatchRecord
    ) -> None:
        """Send the record as JSON to the URL; return once the server has answered 2xx."""
        settings = derived_once(_http_settings, credentials, configuration)
        await deliver(settings, record.json_payload(), record.properties())
