"""Registration of the Apache Pulsar destination: resource type, init defaults and form."""

from tracardi.domain.resource_settings import DestinationData, ResourceSettings
from tracardi.service.plugin.domain.register import (
    Form,
    FormComponent,
    FormField,
    FormGroup,
)

PULSAR_RESOURCE = ResourceSettings(
    id="apache-pulsar",
    name="Apache Pulsar",
    icon="pulsar",
    tags=[
        "pulsar",
        "apache",
        "queue",
        "destination",
    ],
    config={
        "host": "pulsar://localhost:6650",
        "token": "<token>",
        "ssl_ca_file": "",
    },
    manual="pulsar_resource",
    destination=DestinationData(
        package="tracardi.process_engine.destination.pulsar_connector.PulsarConnector",
        init={
            "topic": None,
            "partition_key": "profile_id",
            "compression": "lz4",
            "batching_enabled": True,
            "batching_max_publish_delay_ms": 1,
            "max_pending_messages": 1000,
            "connect_timeout_seconds": 5,
            "send_timeout_seconds": 10,
            "properties": {},
            "unreachable_backoff_seconds": 5.0,
        },
        form=Form(
            groups=[
                FormGroup(
                    name="Apache Pulsar",
                    fields=[
                        FormField(
                            id="topic",
                            name="Topic",
                            description=(
                                "Topic to publish to, e.g. persistent://public/default/tracardi. A short name such as "
                                "tracardi means persistent://public/default/tracardi."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Topic",
                                },
                            ),
                            required=True,
                        ),
                        FormField(
                            id="partition_key",
                            name="Partition key",
                            description=(
                                "Message key. profile_id keeps each profile's messages in order on partitioned topics."
                            ),
                            component=FormComponent(
                                type="select",
                                props={
                                    "label": "Partition key",
                                    "items": {
                                        "profile_id": "profile_id",
                                        "session_id": "session_id",
                                        "none": "none",
                                    },
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="compression",
                            name="Compression",
                            description="How message batches are compressed on the wire and in storage.",
                            component=FormComponent(
                                type="select",
                                props={
                                    "label": "Compression",
                                    "items": {
                                        "none": "none",
                                        "lz4": "lz4",
                                        "zlib": "zlib",
                                        "zstd": "zstd",
                                        "snappy": "snappy",
                                    },
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="batching_enabled",
                            name="Batching",
                            description=(
                                "Send messages in batches: much higher throughput, and each dispatch still waits for "
                                "the broker's acknowledgement."
                            ),
                            component=FormComponent(
                                type="bool",
                                props={
                                    "label": "Batching",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="batching_max_publish_delay_ms",
                            name="Batch delay (ms)",
                            description="Longest a message waits for its batch to fill before the batch is sent.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Batch delay (ms)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="max_pending_messages",
                            name="Max pending messages",
                            description=(
                                "Most messages in flight at once; further dispatches wait for room instead of failing."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Max pending messages",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="connect_timeout_seconds",
                            name="Connect timeout (s)",
                            description="How long to wait for the broker when connecting before failing with an error.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Connect timeout (s)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="send_timeout_seconds",
                            name="Send timeout (s)",
                            description=(
                                "How long to wait for the broker to acknowledge a message before failing with an error."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Send timeout (s)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="properties",
                            name="Extra properties",
                            description="Message properties added to every message, such as the environment name.",
                            component=FormComponent(
                                type="keyValueList",
                                props={
                                    "label": "Extra properties",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="unreachable_backoff_seconds",
                            name="Back-off after an outage (s)",
                            description=(
                                "After the broker could not be reached, dispatches fail at once for this long before "
                                "one tries again, so an outage does not cost every tracked event the connect timeout."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Back-off after an outage (s)",
                                },
                            ),
                            required=False,
                        ),
                    ],
                ),
            ],
        ),
    ),
)
