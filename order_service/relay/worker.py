"""The relay's loop: queue new events for delivery, claim what is due, send it (up to a
number at once), record how it went; until told to stop, then finish what is in flight."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from order_service.relay.metrics import RelayMetrics
from order_service.relay.queue import Delivery, Result, Verdict, claim, fan_out, record
from order_service.relay.retries import RetrySchedule
from order_service.relay.sender import WebhookSender
from order_service.schemas import EventOut
from order_service.signatures import signature_headers
from order_service.store import Store

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RelayConfig:
    batch_size: int
    concurrency: int
    poll_interval: timedelta
    lease: timedelta
    drain: timedelta
    disable_after: timedelta


class Relay:
    """One relay process's work. Several may run at once (replicas): the database hands each
    its own deliveries."""

    def __init__(
        self,
        store: Store,
        sender: WebhookSender,
        config: RelayConfig,
        metrics: RelayMetrics,
        *,
        schedule: RetrySchedule,
        clock: Clock,
    ) -> None:
        self.store = store
        self.sender = sender
        self.config = config
        self.metrics = metrics
        self.schedule = schedule
        self.clock = clock
        self._stopping = asyncio.Event()
        # Set when there may be work before the next poll: a delivery finished, or stop.
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[Verdict | None]] = set()

    async def fan_out(self) -> int:
        """Queue every settled event not queued yet; how many there were."""
        count = 0
        while True:
            now = self.clock()
            events = await fan_out(self.store, batch_size=self.config.batch_size, now=now)
            count += len(events)
            if events:
                lag = (now - events[-1].occurred_at).total_seconds()
                self.metrics.fan_out_lag.set(max(lag, 0))
            if len(events) < self.config.batch_size:
                return count

    async def claim(self, limit: int) -> list[Delivery]:
        return await claim(self.store, now=self.clock(), lease=self.config.lease, limit=limit)

    async def attempt(self, delivery: Delivery) -> Verdict:
        """Send one delivery and record how it went."""
        body = EventOut.of(delivery.event).model_dump_json().encode()
        # The real time, whatever the clock says: receivers check it against theirs.
        headers = signature_headers(
            delivery.signing_secrets, str(delivery.event.id), int(time.time()), body
        )
        outcome = await self.sender.send(delivery.url, headers, body)
        self.metrics.attempts.labels("success" if outcome.is_success else "failure").inc()
        self.metrics.attempt_duration.observe(outcome.duration_ms / 1000)
        verdict = await record(
            self.store,
            delivery,
            outcome,
            now=self.clock(),
            schedule=self.schedule,
            disable_after=self.config.disable_after,
        )
        self._count(delivery, verdict, outcome.describe())
        return verdict

    async def run_once(self) -> list[Verdict]:
        """One round, start to end: queue, claim as many as may be in flight, send them all."""
        await self.fan_out()
        deliveries = await self.claim(self.config.concurrency)
        return list(await asyncio.gather(*(self.attempt(delivery) for delivery in deliveries)))

    async def run(self) -> None:
        """Until `stop()`: rounds, each as soon as there may be work or every poll interval;
        then the deliveries in flight get `drain` to finish."""
        logger.info("relay_started", extra={"concurrency": self.config.concurrency})
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                await self.fan_out()
                free = self.config.concurrency - len(self._in_flight)
                if free > 0:
                    for delivery in await self.claim(free):
                        self._start(delivery)
            except Exception:
                # The database away, mostly: the next round tries again.
                self.metrics.rounds_failed.inc()
                logger.exception("relay_round_failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_interval.total_seconds()):
                    await self._wake.wait()
        await self._drain()

    def stop(self) -> None:
        """Stop claiming; `run` returns once the deliveries in flight are done (or drained)."""
        self._stopping.set()
        self._wake.set()

    def _start(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._attempt_safely(delivery))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Verdict | None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    async def _attempt_safely(self, delivery: Delivery) -> Verdict | None:
        try:
            return await self.attempt(delivery)
        except Exception:
            # Not recorded (the database away): the lease runs out and it is sent again.
            logger.exception(
                "webhook_attempt_not_recorded",
                extra={"delivery_id": delivery.leased.id, "event_id": str(delivery.event.id)},
            )
            return None

    async def _drain(self) -> None:
        if self._in_flight:
            logger.info("relay_draining", extra={"in_flight": len(self._in_flight)})
            _, unfinished = await asyncio.wait(
                set(self._in_flight), timeout=self.config.drain.total_seconds()
            )
            for task in unfinished:
                # Their leases run out: another relay (or this one, restarted) sends them.
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        logger.info("relay_stopped")

    def _count(self, delivery: Delivery, verdict: Verdict, outcome: str) -> None:
        if verdict.result in (Result.DELIVERED, Result.GIVEN_UP):
            self.metrics.finished.labels(verdict.result.value).inc()
        if verdict.disabled_because is not None:
            self.metrics.endpoints_disabled.inc()
            logger.warning(
                "webhook_endpoint_disabled",
                extra={
                    "endpoint_id": str(delivery.leased.endpoint_id),
                    "reason": verdict.disabled_because,
                },
            )
        logger.info(
            "webhook_attempted",
            extra={
                "endpoint_id": str(delivery.leased.endpoint_id),
                "event_id": str(delivery.event.id),
                "attempt": delivery.attempt,
                "outcome": outcome,
                "result": verdict.result.value,
            },
        )
