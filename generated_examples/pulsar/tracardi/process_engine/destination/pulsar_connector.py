"""Apache Pulsar destination for Tracardi.

Publishes Tracardi profiles and events to an Apache Pulsar topic as JSON messages.
"""

import copy
import json
from collections import OrderedDict
from typing import Any, Literal, NamedTuple, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_core import MultiHostUrl

from tracardi.domain.event import Event
from tracardi.domain.profile import Profile
from tracardi.domain.session import Session
from tracardi.process_engine.destination.destination_interface import DestinationInterface
from tracardi.process_engine.destination.pulsar_producer import ProducerSettings, publish

DESTINATION_NAME = "Apache Pulsar"
ModelT = TypeVar("ModelT", bound=BaseModel)

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


class PulsarDestinationError(Exception):
    """Base of every error this destination raises."""


class PulsarConfigurationError(PulsarDestinationError, ValueError):
    """Credentials or init settings that do not fit their models."""


class PulsarPayloadError(PulsarDestinationError, ValueError):
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
            raise PulsarPayloadError(
                f"Cannot send the {self.kind} data to {DESTINATION_NAME} as JSON: {error}",
            ) from error
        return text.encode()


def _validated(model: type[ModelT], values: dict[str, Any], what: str) -> ModelT:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        # `from None`: the ValidationError repeats the input, secrets included, and Tracardi logs the whole chain.
        raise PulsarConfigurationError(
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


def _producer_settings(credentials: PulsarCredentials, configuration: PulsarConfiguration) -> ProducerSettings:
    key = (id(credentials), id(configuration))
    known = _producer_settings_cache.get(key)
    if known is not None:
        return known[2]
    token = credentials.token.get_secret_value() if credentials.token else None
    settings = ProducerSettings(
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
    if len(_producer_settings_cache) >= VALIDATED_CACHE_SIZE:
        _producer_settings_cache.clear()
    _producer_settings_cache[key] = (credentials, configuration, settings)
    return settings


class PulsarConnector(DestinationInterface):
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

    def credentials(self) -> PulsarCredentials:
        """Test credentials in debug mode, production credentials otherwise."""
        what = "test credentials" if self.debug else "production credentials"
        return _validated_once(PulsarCredentials, self._get_credentials() or {}, what)

    def configuration(self) -> PulsarConfiguration:
        return _validated_once(PulsarConfiguration, self.destination.destination.init, "init settings")

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
            _producer_settings(credentials, configuration),
            record.json_payload(),
            properties={**configuration.properties, **record.properties()},
            partition_key=partition_keys[configuration.partition_key],
        )
