"""The Prometheus registry of the shared components' module-level metrics (messaging, webhooks).

Those metrics are created once per process at import time, so they cannot live in an app's own
registry (`observability.Metrics`); they are not in prometheus_client's default registry either,
whose process collectors every app registry already has. Every app's `/metrics` renders its own
registry followed by this one; the series carry labels (consumer group, outbox channel, webhook
target) that tell the services of one process apart in embedded mode.
"""

from prometheus_client import CollectorRegistry

LIBRARY_REGISTRY = CollectorRegistry(auto_describe=True)
