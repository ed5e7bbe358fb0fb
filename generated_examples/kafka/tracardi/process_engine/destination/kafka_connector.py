"""Apache Kafka destination for Tracardi.

Publishes Tracardi profiles and events to an Apache Kafka topic as JSON records.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tracardi.process_engine.destination.transport import require_runtime
from tracardi.process_engine.destination.transport.connector import RecordConnector
from tracardi.process_engine.destination.transport.kafka import producer_settings, publish
from tracardi.process_engine.destination.transport.record import DispatchRecord
from tracardi.process_engine.destination.transport.validation import derived_once

require_runtime("1.0.0", __file__)

DESTINATION_NAME = "Apache Kafka"

SecurityProtocolChoice = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"]
SaslMechanismChoice = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
AcksChoice = Literal["all", "1", "0"]
PartitionKeyChoice = Literal["profile_id", "session_id", "none"]
CompressionChoice = Literal["none", "gzip", "lz4", "snappy", "zstd"]


class KafkaCredentials(BaseModel):
    """The resource's credentials, production or test."""

    model_config = ConfigDict(frozen=True)

    bootstrap_servers: str = Field(
        description=(
            "Brokers to connect to first, host:port[,host:port...]; the client learns the rest of the cluster from "
            "them."
        ),
    )
    security_protocol: SecurityProtocolChoice = Field(
        default="PLAINTEXT",
        description=(
            "PLAINTEXT: no TLS, no user. SASL_PLAINTEXT: user name and password, no TLS. SSL: TLS, brokers' "
            "certificates and host names checked against the certificate authorities of ssl_ca_file, or the system's. "
            "SASL_SSL: both."
        ),
    )
    sasl_mechanism: SaslMechanismChoice = Field(
        default="PLAIN",
        description="How the SASL_ protocols check the user name and password; the brokers must enable it.",
    )
    username: str | None = Field(
        default=None,
        description="SASL user name; needed with SASL_PLAINTEXT and SASL_SSL.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="SASL password; needed with SASL_PLAINTEXT and SASL_SSL.",
    )
    ssl_ca_file: str = Field(
        default="",
        description=(
            "Path to a PEM file of the certificate authorities to trust for SSL and SASL_SSL, for brokers whose "
            "certificates an internal CA signed; empty means the system's. Refused with PLAINTEXT and SASL_PLAINTEXT, "
            "which use no TLS."
        ),
    )


class KafkaConfiguration(BaseModel):
    """The destination's settings: its init."""

    model_config = ConfigDict(frozen=True)

    topic: str = Field(
        description="Topic to publish to. It must exist, unless the brokers create topics on demand.",
    )
    acks: AcksChoice = Field(
        default="all",
        description=(
            "What each dispatch waits for: all in-sync replicas to store the record (all), the partition leader only "
            "(1), or nothing (0, records may be lost unnoticed)."
        ),
    )
    partition_key: PartitionKeyChoice = Field(
        default="profile_id",
        description="Record key. profile_id keeps each profile's records in order, in one partition.",
    )
    compression: CompressionChoice = Field(
        default="gzip",
        description=(
            "How record batches are compressed. gzip needs nothing beyond aiokafka; lz4, snappy and zstd need the "
            "packages of aiokafka's extras of those names."
        ),
    )
    enable_idempotence: bool = Field(
        default=True,
        description=(
            "The brokers drop the duplicates a retry would write, and keep each partition's order. Needs acks all."
        ),
    )
    linger_ms: int = Field(
        default=1,
        ge=0,
        description="Longest a record waits for its batch to fill before the batch is sent.",
    )
    max_record_bytes: int = Field(
        default=1048576,
        ge=1,
        description=(
            "Larger records are refused before they are sent. Keep it at most the topic's max.message.bytes, which the "
            "destination also reads when the user may."
        ),
    )
    max_in_flight: int = Field(
        default=1000,
        ge=1,
        description=(
            "Most records awaiting acknowledgement at once; further dispatches wait for room instead of failing."
        ),
    )
    request_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a record may wait for the brokers' acknowledgement before the dispatch fails.",
    )
    connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How long to wait for the brokers when connecting before the dispatch fails.",
    )
    unreachable_backoff_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "After the brokers could not be reached, dispatches fail at once for this long before one tries again, so "
            "an outage does not cost every tracked event the connect timeout."
        ),
    )
    headers: dict[str, str] = Field(
        default={},
        description="Headers added to every record, such as the environment name.",
    )


class KafkaConnector(RecordConnector[KafkaCredentials, KafkaConfiguration]):
    """Tracardi builds a new instance for every dispatch, so nothing is kept on the instance."""

    destination_name = DESTINATION_NAME
    credentials_model = KafkaCredentials
    configuration_model = KafkaConfiguration

    async def _send(
        self, credentials: KafkaCredentials, configuration: KafkaConfiguration, record: DispatchRecord
    ) -> None:
        """Send the record to the topic and wait for the brokers' acknowledgement."""
        headers = record.properties()
        if configuration.headers:
            headers = {**configuration.headers, **headers}
        await publish(
            derived_once(producer_settings, credentials, configuration),
            record.json_payload(),
            key=record.key(configuration.partition_key),
            headers=headers,
        )
