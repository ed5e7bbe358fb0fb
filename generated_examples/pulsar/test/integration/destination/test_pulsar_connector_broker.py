"""The Apache Pulsar destination end to end: an event and a profile through its connector to pulsar-lite."""

from collections.abc import Iterator

import pulsar_destination_contract
import pytest

from tracardi.process_engine.destination.pulsar_connector import (
    PulsarConnector,
)
from tracardi.service.setup.destinations.pulsar_resource import (
    PULSAR_RESOURCE,
)


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pulsar_destination_contract.embedded_broker(tmp_path_factory.mktemp("pulsar-lite")) as url:
        yield url


@pytest.mark.asyncio
async def test_an_event_and_a_debug_profile_arrive_with_their_payload_properties_and_key(service_url: str) -> None:
    await pulsar_destination_contract.check_an_event_and_a_debug_profile_arrive(
        PulsarConnector, PULSAR_RESOURCE, service_url, "persistent://public/default/tracardi"
    )
