"""Registration of the RabbitMQ destination: resource type, init defaults and form."""

from tracardi.domain.resource_settings import DestinationData, ResourceSettings
from tracardi.service.plugin.domain.register import (
    Form,
    FormComponent,
    FormField,
    FormGroup,
)

RABBITMQ_RESOURCE = ResourceSettings(
    id="rabbitmq",
    name="RabbitMQ",
    icon="rabbitmq",
    tags=[
        "rabbitmq",
        "amqp",
        "queue",
        "destination",
    ],
    config={
        "url": "amqp://localhost:5672/",
        "username": "<username>",
        "password": "<password>",
        "ssl_ca_file": "",
    },
    manual="rabbitmq_resource",
    destination=DestinationData(
        package="tracardi.process_engine.destination.rabbitmq_connector.RabbitmqConnector",
        init={
            "exchange": "",
            "exchange_type": "direct",
            "declare_exchange": False,
            "routing_key": "tracardi",
            "persistent": True,
            "mandatory": True,
            "confirm_timeout_seconds": 10.0,
            "connect_timeout_seconds": 5.0,
            "unreachable_backoff_seconds": 5.0,
            "headers": {},
            "max_message_bytes": 1048576,
        },
        form=Form(
            groups=[
                FormGroup(
                    name="RabbitMQ",
                    fields=[
                        FormField(
                            id="exchange",
                            name="Exchange",
                            description=(
                                "Exchange to publish to. Empty means the default exchange, which routes each message "
                                "to the queue named by the routing key."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Exchange",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="exchange_type",
                            name="Exchange type",
                            description="The exchange's type; only used when declare_exchange creates it.",
                            component=FormComponent(
                                type="select",
                                props={
                                    "label": "Exchange type",
                                    "items": {
                                        "direct": "direct",
                                        "fanout": "fanout",
                                        "topic": "topic",
                                        "headers": "headers",
                                    },
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="declare_exchange",
                            name="Declare the exchange",
                            description=(
                                "Create the exchange (durable, of exchange_type) if it does not exist. Off: it must "
                                "exist, and a missing one fails the dispatch instead of being created by surprise."
                            ),
                            component=FormComponent(
                                type="bool",
                                props={
                                    "label": "Declare the exchange",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="routing_key",
                            name="Routing key",
                            description=(
                                "The routing key of every message; with the default exchange, the name of the queue "
                                "that receives them."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Routing key",
                                },
                            ),
                            required=True,
                        ),
                        FormField(
                            id="persistent",
                            name="Persistent messages",
                            description=(
                                "Ask the broker to write each message to disk, so that durable queues keep it across a "
                                "restart."
                            ),
                            component=FormComponent(
                                type="bool",
                                props={
                                    "label": "Persistent messages",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="mandatory",
                            name="Mandatory",
                            description=(
                                "A message that no queue is bound to take fails the dispatch. Off: the broker confirms "
                                "it and drops it."
                            ),
                            component=FormComponent(
                                type="bool",
                                props={
                                    "label": "Mandatory",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="confirm_timeout_seconds",
                            name="Confirm timeout (s)",
                            description=(
                                "How long a dispatch waits for the broker to confirm its message before failing."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Confirm timeout (s)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="connect_timeout_seconds",
                            name="Connect timeout (s)",
                            description=(
                                "How long to wait for the broker when connecting or opening a channel before failing."
                            ),
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
                                "After the broker could not be reached or did not confirm in time, dispatches fail at "
                                "once for this long before one tries again, so an outage does not cost every tracked "
                                "event the timeout."
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
                            description="AMQP headers added to every message, such as the environment name.",
                            component=FormComponent(
                                type="keyValueList",
                                props={
                                    "label": "Extra headers",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="max_message_bytes",
                            name="Max message size (bytes)",
                            description=(
                                "Larger messages are refused before they are sent. Keep it at most the broker's "
                                "max_message_size (128 MiB unless set), which RabbitMQ does not tell its clients."
                            ),
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Max message size (bytes)",
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
