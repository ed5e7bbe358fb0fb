"""RabbitMQ destination for Tracardi.

Publishes Tracardi profiles and events to a RabbitMQ exchange as JSON messages, each confirmed by
the broker.
"""

from typing import Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, SecretStr

from tracardi.process_engine.destination.transport import require_runtime
from tracardi.process_engine.destination.transport.amqp import amqp_settings, publish
from tracardi.process_engine.destination.transport.connector import RecordConnector
from tracardi.process_engine.destination.transport.record import DispatchRecord
from tracardi.process_engine.destination.transport.validation import derived_once

require_runtime("1.0.0", __file__)

DESTINATION_NAME = "RabbitMQ"

ExchangeTypeChoice = Literal["direct", "fanout", "topic", "headers"]


class RabbitmqCredentials(BaseModel):
    """The resource's credentials, production or test."""

    model_config = ConfigDict(frozen=True)

    url: AnyUrl = Field(
        description=(
            "amqp://host:5672/vhost, or amqps://host:5671/vhost for TLS; the path is the virtual host (none or / for "
            "the default one). No user name or password in it: they have fields of their own, and the URL is shown in "
            "errors."
        ),
    )
    username: str | None = Field(
        default=None,
        description="The RabbitMQ user to connect as; empty means RabbitMQ's guest, which only localhost may use.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="The user's password.",
    )
    ssl_ca_file: str = Field(
        default="",
        description=(
            "Path to a PEM file of the certificate authorities to trust with amqps://, for brokers whose certificate "
            "an internal CA signed; empty means the system's. Host names are always checked. Refused with amqp://, "
            "which uses no TLS."
        ),
    )


class RabbitmqConfiguration(BaseModel):
    """The destination's settings: its init."""

    model_config = ConfigDict(frozen=True)

    exchange: str = Field(
        default="",
        description=(
            "Exchange to publish to. Empty means the default exchange, which routes each message to the queue named by "
            "the routing key."
        ),
    )
    exchange_type: ExchangeTypeChoice = Field(
        default="direct",
        description="The exchange's type; only used when declare_exchange creates it.",
    )
    declare_exchange: bool = Field(
        default=False,
        description=(
            "Create the exchange (durable, of exchange_type) if it does not exist. Off: it must exist, and a missing "
            "one fails the dispatch instead of being created by surprise."
        ),
    )
    routing_key: str = Field(
        description=(
            "The routing key of every message; with the default exchange, the name of the queue that receives them."
        ),
    )
    persistent: bool = Field(
        default=True,
        description="Ask the broker to write each message to disk, so that durable queues keep it across a restart.",
    )
    mandatory: bool = Field(
        default=True,
        description=(
            "A message that no queue is bound to take fails the dispatch. Off: the broker confirms it and drops it."
        ),
    )
    confirm_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a dispatch waits for the broker to confirm its message before failing.",
    )
    connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How long to wait for the broker when connecting or opening a channel before failing.",
    )
    unreachable_backoff_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "After the broker could not be reached or did not confirm in time, dispatches fail at once for this long "
            "before one tries again, so an outage does not cost every tracked event the timeout."
        ),
    )
    headers: dict[str, str] = Field(
        default={},
        description="AMQP headers added to every message, such as the environment name.",
    )
    max_message_bytes: int = Field(
        default=1048576,
        ge=1,
        description=(
            "Larger messages are refused before they are sent. Keep it at most the broker's max_message_size (128 MiB "
            "unless set), which RabbitMQ does not tell its clients."
        ),
    )


class RabbitmqConnector(RecordConnector[RabbitmqCredentials, RabbitmqConfiguration]):
    """Tracardi builds a new instance for every dispatch, so nothing is kept on the instance."""

    destination_name = DESTINATION_NAME
    credentials_model = RabbitmqCredentials
    configuration_model = RabbitmqConfiguration

    async def _send(
        self, credentials: RabbitmqCredentials, configuration: RabbitmqConfiguration, record: DispatchRecord
    ) -> None:
        """Publish the record and wait for the broker's confirm."""
        # The payload first: data that cannot be sent fails before the settings are even checked.
        payload = record.json_payload()
        await publish(derived_once(amqp_settings, credentials, configuration), payload, record.properties())
