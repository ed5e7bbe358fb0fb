from collections.abc import Iterator
from typing import Any

from tracardi.domain.resource_settings import DestinationData, ResourceSettings


def get_resource_types() -> list[ResourceSettings]:
    os_resource_types = [
        ResourceSettings(
            id="api-key",
            name="Api Key",
            icon="hash",
            tags=["api", "key", "token"],
            config={"api_key": ""},
        ),
        ResourceSettings(
            id="api",
            name="API endpoint",
            icon="cloud",
            tags=["api", "destination"],
            config={
                "url": "<url>",
                "username": "<username>",
                "password": "<password>",
            },
            destination=DestinationData(
                package="tracardi.process_engine.destination.http_connector.HttpConnector",
                init={
                    "method": "post",
                    "timeout": 30,
                    "headers": {"content-type": "application/json"},
                    "cookies": {},
                    "ssl_check": True,
                },
            ),
        ),
        ResourceSettings(
            id="mautic",
            name="Mautic",
            icon="mautic",
            tags=["mautic", "destination"],
            config={
                "public_key": "<client-public-key>",
                "private_key": "<client-private-key>",
                "api_url": "<url-of-mautic-instance>",
            },
            destination=DestinationData(
                package="tracardi.process_engine.destination.mautic_connector.MauticConnector",
                init={"overwrite_with_blank": False},
            ),
            manual="mautic_resource",
        ),
        ResourceSettings(
            id="smtp-server",
            name="SMTP",
            tags=["mail", "smtp"],
            config={
                "smtp": "<smtp-server-host>",
                "port": "<port>",
                "username": "<username>",
                "password": "<password>",
            },
        ),
    ]

    return os_resource_types


def get_type_of_resources() -> Iterator[tuple[str, dict[str, Any]]]:
    for resource_type in get_resource_types():
        if resource_type.pro is None:
            yield resource_type.id, resource_type.dict()
