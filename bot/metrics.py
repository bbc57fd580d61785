"""Prometheus metrics of one gridbot process, on a registry of its own (tests run several
runtimes side by side; the global registry would mix them).

Counters are bumped where things happen; the queue depths and leadership are read when Prometheus
scrapes, from the database and the runtime, so they are true even after a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_in = Counter("gridbot_messages_received", "Messages received, by kind",
                                   ["kind"], registry=r)
        self.processed = Counter("gridbot_messages_processed",
                                 "Messages processed, by outcome", ["outcome"], registry=r)
        self.cases_opened = Counter("gridbot_cases_opened", "Cases opened", registry=r)
        self.processing_failures = Counter("gridbot_processing_failures",
                                           "Messages whose processing failed (retried or parked)",
                                           registry=r)
        self.sends = Counter("gridbot_sends", "Messages sent", registry=r)
        self.send_failures = Counter("gridbot_send_failures", "Sends that failed", registry=r)
        self.latency = Histogram("gridbot_processing_latency_seconds",
                                 "From receipt of a message to its processing committed",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.leader = Gauge("gridbot_scheduler_leader",
                            "1 if this process runs the scheduled sweeps", registry=r)
        self.transport_up = Gauge("gridbot_transport_connected",
                                  "1 if the chat transport is connected", registry=r)

    def bind(self, *, depths: Callable[[], tuple[int, int, int]],
             leader: Callable[[], bool], transport_up: Callable[[], bool]) -> None:
        """Values read when Prometheus scrapes: ``depths`` returns (inbound pending, outbox
        pending, outbox failed) from the database in one go."""
        self.registry.register(_QueueDepths(depths))
        self.leader.set_function(lambda: float(leader()))
        self.transport_up.set_function(lambda: float(transport_up()))


class _QueueDepths(Collector):
    def __init__(self, depths: Callable[[], tuple[int, int, int]]) -> None:
        self._depths = depths

    def collect(self) -> Iterator[GaugeMetricFamily]:
        inbound, outbox, failed = self._depths()
        yield GaugeMetricFamily("gridbot_inbound_pending", "Stored messages not processed yet",
                                value=inbound)
        yield GaugeMetricFamily("gridbot_outbox_pending", "Outbox rows waiting to be sent",
                                value=outbox)
        yield GaugeMetricFamily("gridbot_outbox_failed",
                                "Outbox rows that failed for good (shown to staff)",
                                value=failed)
