"""Apache Kafka destination for Tracardi.

Publishes Tracardi profiles and events to an Apache Kafka topic as JSON records.
"""

import copy
import json
from collections import OrderedDict
from typing import Any, Literal, NamedTuple, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tracardi.domain.event import Event
from tracardi.domain.profile import Profile
from tracardi.domain.session import Session
from tracardi.process_engine.destination.destination_interface import DestinationInterface
from tracardi.process_engine.destination.kafka_producer import ProducerSettings, publish

DESTINATION_NAME = "Apache Kafka"
ModelT = TypeVar("ModelT", bound=BaseModel)

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
        description="Longest a record waits for its batch to fill before the batch is sent.",
    )
    max_record_bytes: int = Field(
        default=1048576,
        description=(
            "Larger records are refused before they are sent. Keep it at most the topic's max.message.bytes, which the "
            "destination also reads when the user may."
        ),
    )
    max_in_flight: int = Field(
        default=1000,
        description=(
            "Most records awaiting acknowledgement at once; further dispatches wait for room instead of failing."
        ),
    )
    request_timeout_seconds: float = Field(
        default=10.0,
        description="How long a record may wait for the brokers' acknowledgement before the dispatch fails.",
    )
    connect_timeout_seconds: float = Field(
        default=5.0,
        description="How long to wait for the brokers when connecting before the dispatch fails.",
    )
    unreachable_backoff_seconds: float = Field(
        default=5.0,
        description=(
            "After the brokers could not be reached, dispatches fail at once for this long before one tries again, so "
            "an outage does not cost every tracked event the connect timeout."
        ),
    )
    headers: dict[str, str] = Field(
        default={},
        description="Headers added to every record, such as the environment name.",
    )


class KafkaDestinationError(Exception):
    """Base of every error this destination raises."""


class KafkaConfigurationError(KafkaDestinationError, ValueError):
    """Credentials or init settings that do not fit their models."""


class KafkaPayloadError(KafkaDestinationError, ValueError):
    """Data that cannot be sent as JSON."""


# Made once: json.dumps with options builds a new encoder on every call.
JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str, allow_nan=False)


class DispatchRecord(NamedTuple):
    """One profile or event on its way out, with what a consumer needs to route it.

    A tuple rather than a dataclass: one is made for every dispatch, at a third of the cost.
    """

    kind: Literal["profile", "event"]
    data: Any
    profile_id: str | None
    session_id: str | None
    event_id: str | None = None
    event_type: str | None = None

    def properties(self) -> dict[str, str]:
        """Routing facts, so consumers need not parse the payload to route it."""
        values: dict[str, str] = {"tracardi-kind": self.kind}
        if self.profile_id is not None:
            values["tracardi-profile-id"] = self.profile_id
        if self.session_id is not None:
            values["tracardi-session-id"] = self.session_id
        if self.event_id is not None:
            values["tracardi-event-id"] = self.event_id
        if self.event_type is not None:
            values["tracardi-event-type"] = self.event_type
        return values

    def json_payload(self) -> bytes:
        """The data as compact UTF-8 JSON; datetimes, UUIDs and decimals become strings."""
        try:
            text = JSON_ENCODER.encode(self.data)
        except (TypeError, ValueError) as error:
            raise KafkaPayloadError(
                f"Cannot send the {self.kind} data to {DESTINATION_NAME} as JSON: {error}",
            ) from error
        return text.encode()


def _validated(model: type[ModelT], values: dict[str, Any], what: str) -> ModelT:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        # `from None`: the ValidationError repeats the input, secrets included, and Tracardi logs the whole chain.
        raise KafkaConfigurationError(
            f"Invalid {what} for the {DESTINATION_NAME} destination: {problems}",
        ) from None


# Tracardi builds a new connector for every dispatch but hands each the settings its cache
# holds, and validating them again costs more than the rest of the connector's work. A dict
# handed before is recognised by identity while it still equals what was validated; an equal
# new dict by its repr, which tells apart every value JSON settings can hold. The models are
# frozen, so sharing them is safe.
VALIDATED_CACHE_SIZE = 64
_validated_cache: OrderedDict[tuple[type[BaseModel], str], BaseModel] = OrderedDict()


class _KnownSettings(NamedTuple):
    # Kept alive, so that no other dict gets its id while it is known.
    values: dict[str, Any]
    as_validated: dict[str, Any]
    model: BaseModel


_known_settings: dict[tuple[type[BaseModel], int], _KnownSettings] = {}


def _validated_once(model: type[ModelT], values: dict[str, Any], what: str) -> ModelT:
    known = _known_settings.get((model, id(values)))
    if known is not None and known.as_validated == values:
        return cast(ModelT, known.model)
    validated = _validated_by_repr(model, values, what)
    if len(_known_settings) >= VALIDATED_CACHE_SIZE:
        _known_settings.clear()
    _known_settings[(model, id(values))] = _KnownSettings(values, copy.deepcopy(values), validated)
    return validated


def _validated_by_repr(model: type[ModelT], values: dict[str, Any], what: str) -> ModelT:
    key = (model, repr(values))
    cached = _validated_cache.get(key)
    if cached is not None:
        _validated_cache.move_to_end(key)
        return cast(ModelT, cached)
    validated = _validated(model, values, what)
    _validated_cache[key] = validated
    if len(_validated_cache) > VALIDATED_CACHE_SIZE:
        _validated_cache.popitem(last=False)
    return validated


# Derived from the shared, frozen models _validated_once returns, so the identity of a pair
# stands for its values; each pair is kept here, so that no other models take its ids.
_producer_settings_cache: dict[tuple[int, int], tuple[BaseModel, BaseModel, ProducerSettings]] = {}


def _producer_settings(credentials: KafkaCredentials, configuration: KafkaConfiguration) -> ProducerSettings:
    key = (id(credentials), id(configuration))
    known = _producer_settings_cache.get(key)
    if known is not None:
        return known[2]
    settings = ProducerSettings(
        bootstrap_servers=credentials.bootstrap_servers,
        security_protocol=credentials.security_protocol,
        sasl_mechanism=credentials.sasl_mechanism,
        username=credentials.username,
        password=credentials.password.get_secret_value() if credentials.password else None,
        ssl_ca_file=credentials.ssl_ca_file,
        topic=configuration.topic,
        acks=configuration.acks,
        compression=configuration.compression,
        enable_idempotence=configuration.enable_idempotence,
        linger_ms=configuration.linger_ms,
        max_record_bytes=configuration.max_record_bytes,
        max_in_flight=configuration.max_in_flight,
        request_timeout_seconds=configuration.request_timeout_seconds,
        connect_timeout_seconds=configuration.connect_timeout_seconds,
        unreachable_backoff_seconds=configuration.unreachable_backoff_seconds,
    )
    if len(_producer_settings_cache) >= VALIDATED_CACHE_SIZE:
        _producer_settings_cache.clear()
    _producer_settings_cache[key] = (credentials, configuration, settings)
    return settings


def _partition_key(record: DispatchRecord, partition_key: str) -> str | None:
    """The record's key, which keeps one profile's (or session's) records in order in one partition."""
    if partition_key == "profile_id":
        return record.profile_id
    if partition_key == "session_id":
        return record.session_id
    return None


class KafkaConnector(DestinationInterface):
    """Tracardi builds a new instance for every dispatch, so nothing is kept on the instance."""

    # profile and session are optional, wider than the interface says: Tracardi's dispatcher may pass None.
    async def dispatch_profile(
        self,
        data: Any,
        profile: Profile | None,
        session: Session | None,
        changed_fields: list[dict[str, Any]] | None = None,
    ) -> None:
        profile_id = profile.id if profile is not None else None
        session_id = session.id if session is not None else None
        record = DispatchRecord("profile", data, profile_id, session_id)
        await self._send(self.credentials(), self.configuration(), record)

    async def dispatch_event(self, data: Any, profile: Profile | None, session: Session | None, event: Event) -> None:
        profile_id = profile.id if profile is not None else None
        session_id = session.id if session is not None else None
        record = DispatchRecord("event", data, profile_id, session_id, event.id, event.type)
        await self._send(self.credentials(), self.configuration(), record)

    def credentials(self) -> KafkaCredentials:
        """Test credentials in debug mode, production credentials otherwise."""
        what = "test credentials" if self.debug else "production credentials"
        return _validated_once(KafkaCredentials, self._get_credentials() or {}, what)

    def configuration(self) -> KafkaConfiguration:
        return _validated_once(KafkaConfiguration, self.destination.destination.init, "init settings")

    async def _send(
        self, credentials: KafkaCredentials, configuration: KafkaConfiguration, record: DispatchRecord
    ) -> None:
        """Send the record to the topic and wait for the brokers' acknowledgement."""
        headers = record.properties()
        if configuration.headers:
            headers = {**configuration.headers, **headers}
        await publish(
            _producer_settings(credentials, configuration),
            record.json_payload(),
            key=_partition_key(record, configuration.partition_key),
            headers=headers,
        )
