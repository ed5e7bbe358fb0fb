"""Registration of the Webhook destination: resource type, init defaults and form."""

from tracardi.domain.resource_settings import DestinationData, ResourceSettings
from tracardi.service.plugin.domain.register import (
    Form,
    FormComponent,
    FormField,
    FormGroup,
)

WEBHOOK_RESOURCE = ResourceSettings(
    id="webhook",
    name="Webhook",
    icon="cloud",
    tags=[
        "http",
        "webhook",
        "api",
        "destination",
    ],
    config={
        "url": "<url>",
        "auth_type": "none",
        "token": "<token>",
        "username": "<username>",
        "password": "<password>",
        "api_key_header": "X-API-Key",
        "signing_secret": "<signing_secret>",
        "ssl_ca_file": "",
    },
    manual="webhook_resource",
    destination=DestinationData(
        package="tracardi.process_engine.destination.webhook_connector.WebhookConnector",
        init={
            "method": "POST",
            "headers": {},
            "timeout_seconds": 10.0,
            "connect_timeout_seconds": 5.0,
            "max_attempts": 3,
            "deadline_seconds": 15.0,
            "max_retry_after_seconds": 10.0,
            "verify_tls": True,
            "max_body_bytes": 1048576,
            "unreachable_backoff_seconds": 5.0,
        },
        form=Form(
            groups=[
                FormGroup(
                    name="Webhook",
                    fields=[
                        FormField(
                            id="method",
                            name="Method",
                            description="The HTTP method of every request; the record is its JSON body.",
                            component=FormComponent(
                                type="select",
                                props={
                                    "label": "Method",
                                    "items": {
                                        "POST": "POST",
                                        "PUT": "PUT",
                                        "PATCH": "PATCH",
                                    },
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="headers",
                            name="Extra headers",
                            description="Headers added to every request (not Authorization or the auth headers).",
                            component=FormComponent(
                                type="keyValueList",
                                props={
                                    "label": "Extra headers",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="timeout_seconds",
                            name="Timeout per attempt (s)",
                            description="Longest one attempt may take, from connecting to the end of the answer.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Timeout per attempt (s)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="connect_timeout_seconds",
                            name="Connect timeout (s)",
                            description="Longest an attempt waits for its TCP (and TLS) connection.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Connect timeout (s)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="max_attempts",
                            name="Max attempts",
                            description="Attempts per record; only failures that may pass are retried.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Max attempts",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="deadline_seconds",
                            name="Deadline (s)",
                            description="Longest one dispatch may take: its attempts and the waits between them.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Deadline (s)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="max_retry_after_seconds",
                            name="Max Retry-After (s)",
                            description="Longest wait a server's Retry-After may ask for; more fails at once.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Max Retry-After (s)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="verify_tls",
                            name="Verify TLS certificates",
                            description="Check the server's TLS certificate. Off only for a test server.",
                            component=FormComponent(
                                type="bool",
                                props={
                                    "label": "Verify TLS certificates",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="max_body_bytes",
                            name="Max body size (bytes)",
                            description="A record whose JSON is larger is refused before anything is sent.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Max body size (bytes)",
                                },
                            ),
                            required=False,
                        ),
                        FormField(
                            id="unreachable_backoff_seconds",
                            name="Back-off when unreachable (s)",
                            description="How long dispatches fail at once after one could not reach the URL.",
                            component=FormComponent(
                                type="text",
                                props={
                                    "label": "Back-off when unreachable (s)",
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
