"""Registration of the Apache Kafka destination: resource type, init defaults and form."""

from tracardi.domain.resource_settings import DestinationData, ResourceSettings
from tracardi.service.plugin.domain.register import (
    Form,
    FormComponent,
    FormField,
    FormGroup,
)

KAFKA_RESOURCE = ResourceSettings(
    id="apache-kafka",
    name="Apache Kafka",
    icon="kafka",
    tags=[
        "kafka",
        "apache",
        "queue",
        "destination",
    ],
    config={
        "bootstrap_servers": "localhost:9092",
        "security_protocol": "PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "username": "<username>",
        "password": "<password>",
        "ssl_ca_file": "",
    },
    manual="kafka_resource",
    destination=DestinationData(
        package="tracardi.process_engine.destination.kafka_connector.KafkaConnector",
        init={
            "topic": None,
            "acks": "all",
            "partition_key": "profile_id",
            "compression": "gzip",
            "enable_idempotence": True,
            "linger_ms": 1,
            "max_record_bytes": 1048576,
            "max_in_flight": 1000,
            "request_timeout_seconds": 10.0,
            "connect_timeout_seconds": 5.0,
            "unreachable_backoff_seconds": 5.0,
            "headers": {},
        },
        form=Form(
            groups=[
                FormGroup(
                    name="Apache Kafka",
                    fields=[
                        FormField(
                            id="topic",
                            name="Topic",
                            description=(
                                "Topic to publish to. It must exist, unless the brokers create topics on demand."
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
                            id="acks",
                            name="Acknowledgements",
                            description=(
                                "What each dispatch waits for: all in-sync replicas to store the record (all), the "
                                "partition leader only (1), or nothing (0, records may be lost unnoticed)."
                            ),
                            component=FormComponent(
                                type="select",
                                props={
                                    "label": "Acknowledgements",
                                    "items": {
                                        "all": "all",
                                        "1": "1",
                                        "0": "0",
                                    },
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="partition_key",
                            name="Partition key",
                            description=(
                                "Record key. profile_id keeps each profile's records in order, in one partition."
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
                            description=(
                                "How record batches are compressed. gzip needs nothing beyond aiokafka; lz4, snappy "
                                "and zstd need the packages of aiokafka's extras of those names."
                            ),
                            component=FormComponent(
                                type="select",
                                props={
                                    "label": "Compression",
                                    "items": {
                                        "none": "none",
                                        "gzip": "gzip",
                                        "lz4": "lz4",
                                        "snappy": "snappy",
                                        "zstd": "zstd",
                                    },
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="enable_idempotence",
                            name="Idempotent producer",
                            description=(
                                "The brokers drop the duplicates a retry would write, and keep each partition's order. "
                                "Needs acks all."
                            ),
                            component=FormComponent(
                                type="bool",
                                props={
                                    "label": "Idempotent producer",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="linger_ms",
                            name="Linger (ms)",
                            description="Longest a record waits for its batch to fill before the batch is sent.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Linger (ms)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="max_record_bytes",
                            name="Max record size (bytes)",
                            description=(
                                "Larger records are refused before they are sent. Keep it at most the topic's "
                                "max.message.bytes, which the destination also reads when the user may."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Max record size (bytes)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="max_in_flight",
                            name="Max records in flight",
                            description=(
                                "Most records awaiting acknowledgement at once; further dispatches wait for room "
                                "instead of failing."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Max records in flight",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="request_timeout_seconds",
                            name="Request timeout (s)",
                            description=(
                                "How long a record may wait for the brokers' acknowledgement before the dispatch fails."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Request timeout (s)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="connect_timeout_seconds",
                            name="Connect timeout (s)",
                            description="How long to wait for the brokers when connecting before the dispatch fails.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Connect timeout (s)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="unreachable_backoff_seconds",
                            name="Back-off after an outage (s)",
                            description=(
                                "After the brokers could not be reached, dispatches fail at once for this long before "
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
                        FormField(
                            id="headers",
                            name="Extra headers",
                            description="Headers added to every record, such as the environment name.",
                            component=FormComponent(
                                type="keyValueList",
                                props={
                                    "label": "Extra headers",
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
