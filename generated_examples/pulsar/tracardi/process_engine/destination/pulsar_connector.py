"""Apache Pulsar destination for Tracardi.

Publishes Tracardi profiles and events to an Apache Pulsar topic as JSON messages.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_core import MultiHostUrl

from tracardi.domain.event import Event
from tracardi.domain.profile import Profile
from tracardi.domain.session import Session
from tracardi.process_engine.destination.destination_interface import DestinationInterface
from tracardi.process_engine.destination.pulsar_producer import ProducerSettings, publish
from tracardi.process_engine.destination.transport import require_runtime
from tracardi.process_engine.destination.transport.record import DispatchRecord, event_record, profile_record
from tracardi.process_engine.destination.transport.validation import derived_once, validated_once

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
        description="Longest a message waits for its batch to fill before the batch is sent.",
    )
    max_pending_messages: int = Field(
        default=1000,
        description="Most messages in flight at once; further dispatches wait for room instead of failing.",
    )
    connect_timeout_seconds: int = Field(
        default=5,
        description="How long to wait for the broker when connecting before failing with an error.",
    )
    send_timeout_seconds: int = Field(
        default=10,
        description="How long to wait for the broker to acknowledge a message before failing with an error.",
    )
    properties: dict[str, str] = Field(
        default={},
        description="Message properties added to every message, such as the environment name.",
    )
    unreachable_backoff_seconds: float = Field(
        default=5.0,
        description=(
            "After the broker could not be reached, dispatches fail at once for this long before one tries again, so "
            "an outage does not cost every tracked event the connect timeout."
        ),
    )


def _producer_settings(credentials: PulsarCredentials, configuration: PulsarConfiguration) -> ProducerSettings:
    token = credentials.token.get_secret_value() if credentials.token else None
    return ProducerSettings(
        service_url=str(credentials.host),
        token=token,
        topic=configuration.topic,
        compression=configuration.compression,
        batching_enabled=configuration.batching_enabled,
        batching_max_publish_delay_ms=configuration.batching_max_publish_delay_ms,
        max_pending_messages=configuration.max_pending_messages,
        connect_timeout_seconds=configuration.connect_timeout_seconds,
        send_timeout_seconds=configuration.send_timeout_seconds,
        unreachable_backoff_seconds=configuration.unreachable_backoff_seconds,
    )


class PulsarConnector(DestinationInterface):
    """Tracardi builds a new instance for every dispatch, so nothing is kept on the instance."""

    async def dispatch_profile(
        self,
        data: Any,
        profile: Profile | None,
        session: Session | None,
        changed_fields: list[dict[str, Any]] | None = None,
    ) -> None:
        record = profile_record(DESTINATION_NAME, data, profile, session)
        await self._send(self.credentials(), self.configuration(), record)

    async def dispatch_event(self, data: Any, profile: Profile | None, session: Session | None, event: Event) -> None:
        record = event_record(DESTINATION_NAME, data, profile, session, event)
        await self._send(self.credentials(), self.configuration(), record)

    def credentials(self) -> PulsarCredentials:
        """Test credentials in debug mode, production credentials otherwise."""
        what = "test credentials" if self.debug else "production credentials"
        return validated_once(PulsarCredentials, self._get_credentials() or {}, what, DESTINATION_NAME)

    def configuration(self) -> PulsarConfiguration:
        return validated_once(PulsarConfiguration, self.destination.destination.init, "init settings", DESTINATION_NAME)

    async def _send(
        self, credentials: PulsarCredentials, configuration: PulsarConfiguration, record: DispatchRecord
    ) -> None:
        """Publish the record and wait until the broker has stored it."""
        partition_keys = {
            "profile_id": record.profile_id,
            "session_id": record.session_id,
            "none": None,
        }
        await publish(
            derived_once(_producer_settings, credentials, configuration),
            record.json_payload(),
            properties={**configuration.properties, **record.properties()},
            partition_key=partition_keys[configuration.partition_key],
        )
