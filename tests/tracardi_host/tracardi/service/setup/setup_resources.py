"""Tracardi master's resource types (03c5663): each id, name, manual and destination package
with its Pro flag, as data. Master also gives each its tags, icon and config placeholders, which
no destination reads, so they are left empty here. The list literal in get_resource_types() is
shaped like master's, so tasks/register_destination.py edits this file as it edits master's.

Pro entries are master's real shape: `destination=DestinationData(package="com_tracardi...",
pro=True)`, with ResourceSettings.pro left None, so get_type_of_resources() yields them too.
Master prepends `commercial_resource_types` when licensed; the stand-in has no license.
"""

from collections.abc import Iterator
from typing import Any

from tracardi.domain.resource_settings import DestinationData, ResourceSettings


def get_resource_types() -> list[ResourceSettings]:
    os_resource_types = [
        ResourceSettings(id="api-key", name="Api Key", tags=[], config={}),
        ResourceSettings(id="web-page", name="Web page", tags=[], config={}),
        ResourceSettings(id="aws-s3", name="AWS S3", tags=[], config={}, manual="s3_aws"),
        ResourceSettings(id="api", name="API endpoint", tags=[], config={}, destination=DestinationData(package="tracardi.process_engine.destination.http_connector.HttpConnector")),
        ResourceSettings(id="smtp-server", name="SMTP", tags=[], config={}),
        ResourceSettings(id="imap-server", name="IMAP", tags=[], config={}),
        ResourceSettings(id="telegram", name="Telegram", tags=[], config={}, manual="telegram_resource"),
        ResourceSettings(id="ip-geo-locator", name="MaxMind Geo-Location", tags=[], config={}, manual="max_mind_resource"),
        ResourceSettings(id="postgresql", name="PostgreSQL", tags=[], config={}),
        ResourceSettings(id="elastic-search", name="Elasticsearch", tags=[], config={}),
        ResourceSettings(id="mysql", name="MySQL", tags=[], config={}),
        ResourceSettings(id="mqtt", name="MQTT", tags=[], config={}),
        ResourceSettings(id="sms77", name="Sms77", tags=[], config={}),
        ResourceSettings(id="clicksend", name="ClickSend", tags=[], config={}, manual="clicksend_resource"),
        ResourceSettings(id="full-contact", name="FullContact", tags=[], config={}),
        ResourceSettings(id="sendgrid", name="SendGrid", tags=[], config={}, manual="sendgrid_resource"),
        ResourceSettings(id="redis", name="Redis", tags=[], config={}, manual="redis_resource"),
        ResourceSettings(id="mongodb", name="MongoDB", tags=[], config={}),
        ResourceSettings(id="token", name="Token", tags=[], config={}),
        ResourceSettings(id="twitter", name="Twitter", tags=[], config={}, manual="twitter_resource"),
        ResourceSettings(id="novu", name="Novu", tags=[], config={}, manual="novu_resource"),
        ResourceSettings(id="google_id", name="Google Universal Analytics Tracking ID", tags=[], config={}, manual="ua3_tracker_resource"),
        ResourceSettings(id="google_v4_id", name="Google Analytics 4", tags=[], config={}, manual="ga4_tracker_resource"),
        ResourceSettings(id="google-cloud-service-account", name="Google Cloud service account", tags=[], config={}),
        ResourceSettings(id="influxdb", name="InfluxDB", tags=[], config={}),
        ResourceSettings(id="mixpanel", name="MixPanel", tags=[], config={}, manual="mixpanel_resource"),
        ResourceSettings(id="mautic", name="Mautic", tags=[], config={}, manual="mautic_resource", destination=DestinationData(package="tracardi.process_engine.destination.mautic_connector.MauticConnector")),
        ResourceSettings(id="elasticemail", name="ElasticEmail", tags=[], config={}, manual="elastic_email_resource"),
        ResourceSettings(id="airtable", name="AirTable", tags=[], config={}),
        ResourceSettings(id="amplitude", name="Amplitude", tags=[], config={}),
        ResourceSettings(id="matomo", name="Matomo", tags=[], config={}, manual="matomo_resource"),
        ResourceSettings(id="civi_crm", name="CiviCRM", tags=[], config={}, manual="civi_resource", destination=DestinationData(package="tracardi.process_engine.destination.civicrm_connector.CiviCRMConnector")),
        ResourceSettings(id="active_campaign", name="ActiveCampaign", tags=[], config={}),
        ResourceSettings(id="salesforce", name="Salesforce Marketing Cloud", tags=[], config={}, manual="salesforce_resource"),
        ResourceSettings(id="hubspot", name="HubSpot", tags=[], config={}, manual="hubspot_resource", destination=DestinationData(package="tracardi.process_engine.destination.hubspot_connector.HubSpotConnector")),
        ResourceSettings(id="github", name="GitHub", tags=[], config={}, manual="github_resource"),
        ResourceSettings(id="discord", name="Discord", tags=[], config={}, manual="discord_resource"),
        ResourceSettings(id="apache-pulsar", name="Apache Pulsar", tags=[], config={}, manual="apache_pulsar_resource", destination=DestinationData(package="com_tracardi.destination.pulsar_connector.PulsarConnector", pro=True)),
        ResourceSettings(id="rabbitmq", name="RabbitMq", tags=[], config={}, destination=DestinationData(package="com_tracardi.destination.rabbitmq_connector.RabbitMqConnector", pro=True)),
        ResourceSettings(id="ghost", name="Ghost", tags=[], config={}, manual="ghost_resource"),
    ]

    return os_resource_types


def get_type_of_resources() -> Iterator[tuple[str, dict[str, Any]]]:
    for resource_type in get_resource_types():
        if resource_type.pro is None:
            yield resource_type.id, resource_type.dict()
