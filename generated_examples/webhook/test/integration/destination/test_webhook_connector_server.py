"""The Webhook destination end to end, through its connector to a real HTTP server.

An event, and a profile in debug mode: the checks are every http destination's, in
http_destination_contract.py; the shared delivery's own tests are in transport/.
"""

import http_destination_contract
import pytest

from tracardi.process_engine.destination.webhook_connector import WebhookConnector
from tracardi.service.setup.destinations.webhook_resource import WEBHOOK_RESOURCE


@pytest.mark.asyncio
async def test_an_event_and_a_debug_profile_reach_a_real_http_server() -> None:
    await http_destination_contract.check_an_event_and_a_debug_profile(WebhookConnector, WEBHOOK_RESOURCE)
