from typing import Any

from tracardi.domain.destination import Destination
from tracardi.domain.event import Event
from tracardi.domain.profile import Profile
from tracardi.domain.resource import Resource
from tracardi.domain.session import Session


class DestinationInterface:
    def __init__(
        self, debug: bool, resource: Resource, destination: Destination
    ) -> None:
        self.destination = destination
        self.debug = debug
        self.resource = resource

    async def dispatch_profile(
        self,
        data: Any,
        profile: Profile,
        session: Session | None,
        changed_fields: list[dict[str, Any]] | None = None,
    ) -> None:
        pass

    async def dispatch_event(
        self,
        data: Any,
        profile: Profile | None,
        session: Session | None,
        event: Event,
    ) -> None:
        pass

    def _get_credentials(self) -> dict[str, Any] | None:
        credentials = self.resource.credentials
        return credentials.test if self.debug else credentials.production
