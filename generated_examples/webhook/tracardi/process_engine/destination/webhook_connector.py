"""Webhook destination for Tracardi.

Sends Tracardi profiles and events to Webhook as JSON over HTTP.
"""

import copy
import json
from collections import OrderedDict
from typing import Any, Literal, NamedTuple, TypeVar, cast

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tracardi.domain.event import Event
from tracardi.domain.profile import Profile
from tracardi.domain.session import Session
from tracardi.process_engine.destination.destination_interface import DestinationInterface
from tracardi.process_engine.destination.webhook_http import HttpSettings, deliver

DESTINATION_NAME = "Webhook"
ModelT = TypeVar("ModelT", bound=BaseModel)

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
        description="Longest one attempt may take, from connecting to the end of the answer.",
    )
    connect_timeout_seconds: float = Field(
        default=5.0,
        description="Longest an attempt waits for its TCP (and TLS) connection.",
    )
    max_attempts: int = Field(
        default=3,
        description="Attempts per record, 1 to 10; only failures that may pass are retried.",
    )
    deadline_seconds: float = Field(
        default=15.0,
        description="Longest one dispatch may take: its attempts and the waits between them.",
    )
    max_retry_after_seconds: float = Field(
        default=10.0,
        description="Longest wait a server's Retry-After may ask for; more fails at once.",
    )
    verify_tls: bool = Field(
        default=True,
        description="Check the server's TLS certificate. Off only for a test server.",
    )
    max_body_bytes: int = Field(
        default=1048576,
        description="A record whose JSON is larger is refused before anything is sent.",
    )
    unreachable_backoff_seconds: float = Field(
        default=5.0,
        description="How long dispatches fail at once after one could not reach the URL.",
    )


class WebhookDestinationError(Exception):
    """Base of every error this destination raises."""


class WebhookConfigurationError(WebhookDestinationError, ValueError):
    """Credentials or init settings that do not fit their models."""


class WebhookPayloadError(WebhookDestinationError, ValueError):
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
            raise WebhookPayloadError(
                f"Cannot send the {self.kind} data to {DESTINATION_NAME} as JSON: {error}",
            ) from error
        return text.encode()


def _validated(model: type[ModelT], values: dict[str, Any], what: str) -> ModelT:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        # `from None`: the ValidationError repeats the input, secrets included, and Tracardi logs the whole chain.
        raise WebhookConfigurationError(
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


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


# Derived from the shared, frozen models _validated_once returns, so the identity of a pair
# stands for its values; each pair is kept here, so that no other models take its ids.
_http_settings_cache: dict[tuple[int, int], tuple[BaseModel, BaseModel, HttpSettings]] = {}


def _http_settings(credentials: WebhookCredentials, configuration: WebhookConfiguration) -> HttpSettings:
    key = (id(credentials), id(configuration))
    known = _http_settings_cache.get(key)
    if known is not None:
        return known[2]
    settings = HttpSettings(
        url=str(credentials.url),
        method=configuration.method,
        auth_type=credentials.auth_type,
        token=_secret(credentials.token),
        username=credentials.username,
        password=_secret(credentials.password),
        api_key_header=credentials.api_key_header,
        signing_secret=_secret(credentials.signing_secret),
        headers=tuple(configuration.headers.items()),
        timeout_seconds=configuration.timeout_seconds,
        connect_timeout_seconds=configuration.connect_timeout_seconds,
        max_attempts=configuration.max_attempts,
        deadline_seconds=configuration.deadline_seconds,
        max_retry_after_seconds=configuration.max_retry_after_seconds,
        verify_tls=configuration.verify_tls,
        max_body_bytes=configuration.max_body_bytes,
        unreachable_backoff_seconds=configuration.unreachable_backoff_seconds,
    )
    if len(_http_settings_cache) >= VALIDATED_CACHE_SIZE:
        _http_settings_cache.clear()
    _http_settings_cache[key] = (credentials, configuration, settings)
    return settings


class WebhookConnector(DestinationInterface):
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

    def credentials(self) -> WebhookCredentials:
        """Test credentials in debug mode, production credentials otherwise."""
        what = "test credentials" if self.debug else "production credentials"
        return _validated_once(WebhookCredentials, self._get_credentials() or {}, what)

    def configuration(self) -> WebhookConfiguration:
        return _validated_once(WebhookConfiguration, self.destination.destination.init, "init settings")

    async def _send(
        self, credentials: WebhookCredentials, configuration: WebhookConfiguration, record: DispatchRecord
    ) -> None:
        """Send the record as JSON to the URL; return once the server has answered 2xx."""
        await deliver(_http_settings(credentials, configuration), record.json_payload(), record.properties())
