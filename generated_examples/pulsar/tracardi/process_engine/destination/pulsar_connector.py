"""Apache Pulsar destination for Tracardi.

Publishes Tracardi profiles and events to an Apache Pulsar topic as JSON messages.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_core import MultiHostUrl

from tracardi.process_engine.destination.transport import require_runtime
from tracardi.process_engine.destination.transport.connector import RecordConnector
from tracardi.process_engine.destination.transport.pulsar import producer_settings, publish
from tracardi.process_engine.destination.transport.record import DispatchRecord
from tracardi.process_engine.destination.transport.validation import derived_once

require_runtime("1.0.0", __file__)

DESTINATION_NAME = "Apache Pulsar"

PartitionKeyChoice = Literal["profile_id", "session_id", "none"]
CompressionChoice = Literal["none", "lz4", "zlib", "zstd", "snappy"]


class PulsarCredentials(BaseModel):
    """The resource's credentials, production or test."""

    model_config = ConfigDict(frozen=True)

    host: MultiHostUrl = Field(
        description=(
            "Pulsar service URL: pulsar://host:6650, pulsar://host-1:6650,host-2:6650 for several brokers, or "
            "pulsar+ssl://host:6651 for TLS."
        ),
    )
    token: SecretStr | None = Field(
        default=None,
        description="JWT for Pulsar token authentication. Leave it out when the broker does not check tokens.",
    )
    ssl_ca_file: str = Field(
        default="",
        description=(
            "Path to a PEM file of the certificate authorities to trust with pulsar+ssl://, for brokers whose "
            "certificates an internal CA signed; empty means the system's. Host names are always checked. Refused with "
            "pulsar://, which uses no TLS."
        ),
    )


class PulsarConfiguration(BaseModel):
    """The destination's settings: its init."""

    model_config = ConfigDict(frozen=True)

    topic: str = Field(
        description=(
            "Topic to publish to, e.g. persistent://public/default/tracardi. A short name such as tracardi means "
            "persistent://public/default/tracardi."
        ),
    )
    partition_key: PartitionKeyChoice = Field(
        default="profile_id",
        description="Message key. profile_id keeps each profile's messages in order on partitioned topics.",
    )
    compression: CompressionChoice = Field(
        default="lz4",
        description="How message batches are compressed on the wire and in storage.",
    )
    batching_enabled: bool = Field(
        default=True,
        description=(
            "Send messages in batches: much higher throughput, and each dispatch still waits for the broker's "
            "acknowledgement."
        ),
    )
    batching_max_publish_delay_ms: int = Field(
        default=1,
        ge=0,
        description="Longest a message waits for its batch to fill before the batch is sent.",
    )
    max_pending_messages: int = Field(
        default=1000,
        ge=1,
        description="Most messages in flight at once; further dispatches wait for room instead of failing.",
    )
    connect_timeout_seconds: int = Field(
        default=5,
        ge=1,
        description="How long to wait for the broker when connecting before failing with an error.",
    )
    send_timeout_seconds: int = Field(
        default=10,
        ge=1,
        description="How long to wait for the broker to acknowledge a message before failing with an error.",
    )
    properties: dict[str, str] = Field(
        default={},
        description="Message properties added to every message, such as the environment name.",
    )
    unreachable_backoff_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "After the broker could not be reached, dispatches fail at once for this long before one tries again, so "
            "an outage does not cost every tracked event the connect timeout."
        ),
    )


class PulsarConnector(RecordConnector[PulsarCredentials, PulsarConfiguration]):
    """Tracardi builds a new instance for every dispatch, so nothing is kept on the instance."""

    destination_name = DESTINATION_NAME
    credentials_model = PulsarCredentials
    configuration_model = PulsarConfiguration

    async def _send(
        self, credentials: PulsarCredentials, configuration: PulsarConfiguration, record: DispatchRecord
    ) -> None:
        """Publish the record and wait until the broker has stored it."""
        await publish(
            derived_once(producer_settings, credentials, configuration),
            record.json_payload(),
            properties={**configuration.properties, **record.properties()},
            partition_key=record.key(configuration.partition_key),
        )
