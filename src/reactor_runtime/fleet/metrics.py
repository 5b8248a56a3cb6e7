"""The gateway's `/metrics`: its own counters plus the controller's tables at scrape time."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

REPLICA_STATES = ("loading", "idle", "reserved", "busy", "draining", "down")
"""Values of `reactor_fleet_replicas{state=...}`."""
PROXY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)
"""Seconds: the proxy should add < 50 ms (COORDINATOR.md §5); the goal is ~3 ms."""
WAIT_BUCKETS = (0.1, 1.0, 5.0, 10.0, 30.0, 60.0, 140.0)
"""Seconds a session waited in the queue before its replica was reserved."""


def _histogram(name: str, doc: str, values: list[float], buckets: tuple[float, ...]) -> Any:
    counts = [sum(1 for v in values if v <= edge) for edge in buckets]
    family = HistogramMetricFamily(name, doc)
    family.add_metric(
        [],
        [
            *((str(edge), float(n)) for edge, n in zip(buckets, counts, strict=True)),
            ("+Inf", float(len(values))),
        ],
        sum_value=sum(values),
    )
    return family


class GatewayMetrics:
    """Counters the gateway keeps, and their exposition with the controller's."""

    def __init__(self, controller: Any) -> None:
        """Read the controller's snapshot at each scrape."""
        self.controller = controller
        self.created = 0
        self.refused_auth = 0
        self.proxy_errors = 0
        self._proxy_times: list[float] = []

    def proxied(self, seconds: float) -> None:
        """Record one proxied signalling request's time in the gateway."""
        self._proxy_times = [*self._proxy_times[-9999:], seconds]

    async def text(self) -> bytes:
        """The exposition text of every fleet metric."""
        snapshot = await self.controller.snapshot.remote()
        counts = snapshot["counts"]
        families: list[Any] = []
        replicas = GaugeMetricFamily(
            "reactor_fleet_replicas", "Replicas by state.", labels=["state"]
        )
        for state in REPLICA_STATES:
            n = sum(1 for r in snapshot["replicas"] if r["state"] == state)
            replicas.add_metric([state], n)
        families.append(replicas)
        families.append(
            GaugeMetricFamily(
                "reactor_fleet_queue_depth", "Sessions waiting.", value=len(snapshot["queue"])
            )
        )
        for key, doc in (
            ("allocations", "Sessions bound to a replica."),
            ("sessions_created", "Sessions created."),
            ("sessions_refused", "Sessions closed at creation: the queue could not serve them."),
            ("sessions_expired", "Queued sessions closed after the poll budget."),
            ("double_bookings_refused", "Starts a replica refused with 409 (its own guard)."),
            ("replicas_lost", "Times a replica was found down or silent."),
        ):
            families.append(
                CounterMetricFamily(f"reactor_fleet_{key}", doc, value=counts.get(key, 0))
            )
        families.append(
            CounterMetricFamily(
                "reactor_fleet_replica_restarts",
                "Replica processes restarted by their supervisors.",
                value=sum(r["restarts"] for r in snapshot["replicas"]),
            )
        )
        families.append(
            _histogram(
                "reactor_fleet_queue_wait_seconds",
                "Seconds from POST /sessions to a reserved replica.",
                snapshot["waits_s"],
                WAIT_BUCKETS,
            )
        )
        families.append(
            _histogram(
                "reactor_fleet_proxy_seconds",
                "Seconds a proxied signalling request spent in the gateway.",
                self._proxy_times,
                PROXY_BUCKETS,
            )
        )
        for key, value, doc in (
            ("gateway_sessions_created", self.created, "POST /sessions answered by this gateway."),
            ("gateway_refused_auth", self.refused_auth, "Requests refused for their credential."),
            ("gateway_proxy_errors", self.proxy_errors, "Proxied requests the replica missed."),
        ):
            families.append(CounterMetricFamily(f"reactor_fleet_{key}", doc, value=value))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Fixed(families))
        return generate_latest(registry)


class _Fixed:
    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> Any:
        return iter(self.families)
