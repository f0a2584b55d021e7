"""Prometheus metrics, one registry per app so several apps can live in one test process."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.responses import Response

# Buckets from 0.5 ms to 10 s: cache hits sit at the bottom, large photos through two models near the top.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class RecognizerMetrics:
    """Instruments every recognizer service exposes under the same names."""

    def __init__(self, task: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "recognizer_requests",
            "Recognize requests by model and outcome",
            ["task", "model", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "recognizer_request_seconds",
            "Time to answer a recognize request",
            ["task", "model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "recognizer_batch_size",
            "Samples per forward pass",
            ["task", "model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "recognizer_inference_seconds",
            "Time of one forward pass",
            ["task", "model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "recognizer_queue_samples",
            "Samples waiting for a forward pass",
            ["task", "model"],
            registry=self.registry,
        )
        self.task = task


def metrics_response(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
