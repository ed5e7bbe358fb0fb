"""What every rendered connector does the same way, so that a destination's own module holds only
its models and how it sends.

Tracardi builds a new connector for every dispatch and awaits it inside the /track request: the
connector validates the resource's credentials (test ones in debug mode) and the destination's
init against its models, shared between dispatches, turns the dispatch into a DispatchRecord
and hands all three to its `_send`.
"""

from typing import Any, Generic

from tracardi.domain.event import Event
from tracardi.domain.profile import Profile
from tracardi.domain.session import Session
from tracardi.process_engine.destination.destination_interface import DestinationInterface
from tracardi.process_engine.destination.transport.record import DispatchRecord, event_record, profile_record
from tracardi.process_engine.destination.transport.validation import ConfigurationT, CredentialsT, validated_once


class RecordConnector(DestinationInterface, Generic[CredentialsT, ConfigurationT]):
    """A destination's connector: a subclass names its models and writes `_send`."""

    # The destination's name in errors, and the models of its credentials and of its init.
    destination_name: str
    credentials_model: type[CredentialsT]
    configuration_model: type[ConfigurationT]

    # profile and session are optional, wider than the interface says: Tracardi's dispatcher may pass None.
    async def dispatch_profile(
        self,
        data: Any,
        profile: Profile | None,
        session: Session | None,
        changed_fields: list[dict[str, Any]] | None = None,
    ) -> None:
        record = profile_record(self.destination_name, data, profile, session, changed_fields)
        await self._send(self.credentials(), self.configuration(), record)

    async def dispatch_event(self, data: Any, profile: Profile | None, session: Session | None, event: Event) -> None:
        record = event_record(self.destination_name, data, profile, session, event)
        await self._send(self.credentials(), self.configuration(), record)

    def credentials(self) -> CredentialsT:
        """Test credentials in debug mode, production credentials otherwise."""
        what = "test credentials" if self.debug else "production credentials"
        return validated_once(self.credentials_model, self._get_credentials() or {}, what, self.destination_name)

    def configuration(self) -> ConfigurationT:
        init = self.destination.destination.init
        return validated_once(self.configuration_model, init, "init settings", self.destination_name)

    async def _send(self, credentials: CredentialsT, configuration: ConfigurationT, record: DispatchRecord) -> None:
        """Deliver one record; raise an error naming what failed if it was not delivered."""
        raise NotImplementedError(f"{type(self).__name__}._send is not written")
