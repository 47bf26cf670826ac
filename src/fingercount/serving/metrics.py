"""Prometheus metrics, one registry per app (so several apps can live in one process)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

# Bounds at 50 ms (the refusal target) and 0.5 s (MAX_QUEUE_WAIT's default), so both read off the histogram.
_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.5, 5.0)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "fingercount_request_seconds", "HTTP request latency", ["route", "status"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.inference = Histogram(
            "fingercount_inference_seconds", "Engine inference latency", ["engine"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.model = Info("fingercount_model", "The model version being served", registry=self.registry)
        self.model_loaded = Gauge("fingercount_model_loaded", "1 when a model is loaded", registry=self.registry)
        self.swaps = Counter("fingercount_model_swaps", "Model swaps", registry=self.registry)
        self.load_failures = Counter("fingercount_model_load_failures", "Failed model loads", registry=self.registry)
        self.errors = Counter("fingercount_errors", "Error responses by code", ["code"], registry=self.registry)
        self.queue = Gauge(
            "fingercount_inference_admitted", "Inference requests running or waiting", registry=self.registry
        )
        self.queue_wait = Histogram(
            "fingercount_inference_queue_seconds", "Time an admitted request waited for an inference worker",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.shed = Counter(
            "fingercount_inference_shed", "Inference requests refused with 503 (at capacity)", registry=self.registry
        )

        # Monitoring without labels (serving/monitor.py), each by model version.
        def by_version(kind: type[Gauge] | type[Counter], name: str, doc: str) -> Any:
            return kind(f"fingercount_monitor_{name}", doc, ["version"], registry=self.registry)

        self.monitor_agreement = by_version(Gauge, "agreement", "Model vs teacher count agreement over the window")
        self.monitor_baseline = by_version(Gauge, "baseline", "The version's teacher agreement on its held-out sets")
        self.monitor_drift = by_version(Gauge, "drift", "1 while the agreement is below the alarm")
        self.monitor_judged = by_version(Counter, "judged", "Sampled frames the teacher judged")
        self.monitor_skipped = by_version(Counter, "skipped", "Sampled frames where the teacher saw no hand")
        self.monitor_dropped = by_version(Counter, "dropped", "Samples dropped while the judge was busy or resting")
        self.monitor_unreadable = by_version(Counter, "unreadable", "Samples the teacher could not read")
        self.dropped_frames = Counter(
            "fingercount_ws_dropped_frames", "WebSocket frames replaced by a newer one before processing",
            registry=self.registry,
        )  # fmt: skip
