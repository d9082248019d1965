"""Prometheus metrics of one monitor, counted from its log events.

The loop and the delivery code already log every poll, failure, match and
delivery with the source, rule or channel as a field (monitor.log); the
counters here subscribe to those events, so what /metrics counts is what the
log says, and the code that polls or delivers needs no second call.

Each Monitor has its own registry (never the process-wide default), so
several monitors in one process (the tests) do not share counters.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]

# A cycle polls every due source and works the outbox: seconds to minutes.
CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.polls = Counter(
            "monitor_source_polls", "Polls of a source, successful or not.", ["source"], registry=r
        )
        self.poll_failures = Counter(
            "monitor_source_failures",
            "Failed polls of a source, by reason.",
            ["source", "reason"],
            registry=r,
        )
        self.stories = Counter(
            "monitor_stories_new", "New stories seen in a source.", ["source"], registry=r
        )
        self.matches = Counter(
            "monitor_rule_matches", "Stories a rule matched.", ["rule"], registry=r
        )
        self.deliveries = Counter(
            "monitor_deliveries",
            "Alerts a channel's destination accepted.",
            ["channel"],
            registry=r,
        )
        self.delivery_failures = Counter(
            "monitor_delivery_failures",
            "Failed delivery attempts to a channel (dead letters included).",
            ["channel"],
            registry=r,
        )
        self.outbox = Gauge(
            "monitor_outbox_rows",
            "Outbox rows by status, as of the last cycle.",
            ["status"],
            registry=r,
        )
        self.cycle = Histogram(
            "monitor_cycle_duration_seconds",
            "Time one cycle took (polls and delivery).",
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.last_cycle = Gauge(
            "monitor_last_cycle_end_timestamp_seconds",
            "When the last cycle ended (Unix time).",
            registry=r,
        )
        self.rules = Gauge("monitor_rules_loaded", "Rules in the running rule set.", registry=r)
        self.sources = Gauge(
            "monitor_sources_enabled", "Enabled sources in the running config.", registry=r
        )
        self.reloads = Counter(
            "monitor_reloads", "Reloads of rules and config, by result.", ["result"], registry=r
        )
        self.reload_ok = Gauge(
            "monitor_last_reload_ok",
            "1 when the last reload succeeded (or none was tried), else 0.",
            registry=r,
        )
        self.reload_ok.set(1)
        self._polls: dict[str, Counter] = {}  # monitor_source_polls by source
        for status in ("pending", "sent", "dead"):
            self.outbox.labels(status).set(0)

    def on_event(self, name: str, fields: dict) -> None:
        source, channel = fields.get("source"), fields.get("channel")
        if name == "source.polled" and source:
            # one event per poll: each source's counter is looked up once
            polls = self._polls.get(source)
            if polls is None:
                polls = self._polls[source] = self.polls.labels(source)
            polls.inc()
            new = fields.get("new") or 0
            if isinstance(new, int) and new > 0:
                self.stories.labels(source).inc(new)
        elif name == "source.failed" and source:
            self.polls.labels(source).inc()
            self.poll_failures.labels(source, str(fields.get("reason") or "unknown")).inc()
        elif name == "rule.matched" and fields.get("rule"):
            self.matches.labels(str(fields["rule"])).inc()
        elif name == "alert.sent" and channel:
            alerts = fields.get("alerts") or 1  # a burst or digest message carries several
            self.deliveries.labels(channel).inc(alerts if isinstance(alerts, int) else 1)
        elif name in ("alert.failed", "alert.dead") and channel:
            self.delivery_failures.labels(channel).inc()
        elif name == "reload.done":
            self.reloads.labels("ok").inc()
            self.reload_ok.set(1)
        elif name == "reload.rejected":
            self.reloads.labels("failed").inc()
            self.reload_ok.set(0)

    def cycle_ended(self, seconds: float, end_time: float, outbox: dict[str, int]) -> None:
        self.cycle.observe(seconds)
        self.last_cycle.set(end_time)
        for status, n in outbox.items():
            self.outbox.labels(status).set(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
