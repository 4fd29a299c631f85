"""The event feed's cost: events per second to each kind of subscriber, and the added cost per
dossier end to end against the feed off, each against a baseline measured in the same run.

1. Delivery rate. A store holding one `dossier.received` event for each of --events dossiers
   (fanned out to three subscribers first) is drained by the event loop, one subscriber at a
   time, over its real socket: a publisher that does nothing (the store's own ceiling: claim,
   lease, mark delivered), the reference webhook subscriber (`nsw-adapter simulate subscriber`
   in its own process: a signed POST each, signatures verified), and RabbitMQ (a durable queue,
   persistent messages, publisher confirms). Events/s each, and each as a share of the ceiling.
2. End to end. The same --dossiers cargo dossiers through `nsw-adapter run` (as
   benchmarks/end_to_end.py: the portal simulator and the daemon in their own processes, the NSW
   simulator here) with the feed off (no [[subscribers]]) and on (the webhook subscriber and a
   RabbitMQ queue), each run from a fresh store: seconds until every dossier is final (and, fed,
   until both subscribers hold all 3 events of each), the daemon's CPU per dossier, on/off ratios.

    .venv/bin/python benchmarks/events.py [--events 2000] [--dossiers 300] [--store sqlite|postgresql]
        [--threads N]   (senders per subscriber, its `threads` setting; default 1)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from end_to_end import (  # noqa: E402
    BIN,
    Adapter,
    Portal,
    compile_package,
    cpu_seconds,
    create_pg_database,
    dossiers,
    drop_pg_database,
    free_port,
    migrate_store,
)

from nsw_adapter.events.config import SubscriberSettings  # noqa: E402
from nsw_adapter.events.publisher import OutgoingEvent, publisher_for  # noqa: E402
from nsw_adapter.logging import configure_logging  # noqa: E402
from nsw_adapter.loops.events import EventLoop  # noqa: E402
from nsw_adapter.settings import load_settings  # noqa: E402
from nsw_adapter.simulators.nsw import NswSimulator  # noqa: E402
from nsw_adapter.simulators.subscriber import DEMO_SECRET  # noqa: E402
from nsw_adapter.store import IncomingMessage, open_store  # noqa: E402
from nsw_adapter.worker import build_context  # noqa: E402

AMQP_URL = os.environ.get("NSW_ADAPTER_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


class Subscriber:
    """`nsw-adapter simulate subscriber` in its own process (a webhook receiver)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = (workdir / "subscriber.log").open("wb")
        self.process = subprocess.Popen(
            [str(BIN), "simulate", "subscriber", "--port", str(self.port), "--secret", DEMO_SECRET],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.base}/admin/state", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the subscriber simulator did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/hooks/nsw"

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = requests.get(f"{self.base}/admin/state", timeout=30).json()["counts"]
        return result

    def kept(self) -> int:
        return len(requests.get(f"{self.base}/admin/state", timeout=30).json()["events"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


class _Null:
    """A publisher that takes every event and does nothing: the store's share alone."""

    def publish(self, event: OutgoingEvent) -> None:
        pass

    def close(self) -> None:
        pass


def queue_depth(queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def delete_amqp(exchange: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
    finally:
        connection.close()


def _message(reference: str) -> IncomingMessage:
    """A General Declaration that calls for nothing else: the dossier is complete, one event."""
    raw = f"<Envelope><reference>{reference}</reference></Envelope>".encode()
    return IncomingMessage(
        message_id=f"{reference}-50", reference=reference, document_type="1", type="50", function="01",
        send_date=datetime(2026, 3, 12, tzinfo=UTC), raw=raw, sha256=uuid.uuid4().hex * 2,
        called_for=frozenset({"50"}),
    )  # fmt: skip


def delivery_rates(args: argparse.Namespace, workdir: Path, subscriber: Subscriber) -> dict[str, float]:
    """Events/s through the event loop to the null publisher, the webhook and RabbitMQ."""
    store_url = create_pg_database() if args.store == "postgresql" else f"sqlite:///{workdir}/rates.db"
    suffix = uuid.uuid4().hex[:8]
    exchange = queue = f"nswa-bench-{suffix}"
    tables = [
        {"name": "null", "kind": "webhook", "url": "http://127.0.0.1:9/null", "secret": DEMO_SECRET},
        {"name": "webhook", "kind": "webhook", "url": subscriber.url, "secret": DEMO_SECRET},
        {"name": "amqp", "kind": "amqp", "url": AMQP_URL, "exchange": exchange, "queue": queue},
    ]
    settings = load_settings(
        None, store={"url": store_url}, allow_demo_credentials=True, subscribers=tables,
        worker={"idle_seconds": 0.05},
    )  # fmt: skip
    store = open_store(store_url, migrate=True)
    rates: dict[str, float] = {}
    try:
        print(f"writing {args.events} events ...", flush=True)
        for i in range(args.events):
            store.receive(_message(f"HPH-2026-{i:06d}"))
        while store.fan_out_events(settings.subscribers, store.now()):
            pass

        def factory(s: SubscriberSettings) -> Any:
            return _Null() if s.name == "null" else publisher_for(s)

        context = build_context(settings, store)
        context.publisher_factory = factory
        for subscriber_settings in settings.subscribers:
            name = subscriber_settings.name
            loops = [EventLoop(context, subscriber_settings) for _ in range(args.threads)]
            counts = [0] * len(loops)

            def drain(
                index: int, name: str = name, loops: list[EventLoop] = loops, counts: list[int] = counts
            ) -> None:
                try:
                    while (done := loops[index].run_once()) or store.stats(store.now()).subscribers.get(name):
                        counts[index] += done
                        if not done:
                            time.sleep(0.01)  # the others hold what is left
                finally:
                    loops[index].close()

            started = time.perf_counter()
            threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(loops))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            rates[name] = sum(counts) / elapsed
            print(f"  {name:<8} {sum(counts)} events in {elapsed:.2f} s", flush=True)
        assert subscriber.kept() >= args.events, "the webhook subscriber is missing events"
        assert queue_depth(queue) == args.events, "the queue is missing events"
    finally:
        store.close()
        delete_amqp(exchange, queue)
        if args.store == "postgresql":
            drop_pg_database(store_url)
    return rates


def end_to_end(
    args: argparse.Namespace, workdir: Path, subscriber: Subscriber, fed: bool
) -> dict[str, float]:
    """One run of --dossiers through the daemon, the feed on or off: seconds, daemon CPU per dossier."""
    batch = dossiers(args.dossiers, prefix="HPH" if fed else "SGN")
    store_url = create_pg_database() if args.store == "postgresql" else f"sqlite:///{workdir}/e2e-{fed}.db"
    migrate_store(store_url)
    suffix = uuid.uuid4().hex[:8]
    exchange = queue = f"nswa-bench-{suffix}"
    tables = [
        {
            "name": "customs",
            "kind": "webhook",
            "url": subscriber.url,
            "secret": DEMO_SECRET,
            "threads": args.threads,
        },
        {
            "name": "port",
            "kind": "amqp",
            "url": AMQP_URL,
            "exchange": exchange,
            "queue": queue,
            "threads": args.threads,
        },
    ]
    os.environ["NSW_ADAPTER_SUBSCRIBERS"] = json.dumps(tables if fed else [])
    kept_before = subscriber.kept()
    portal = Portal(free_port(), 0.2, None, workdir)
    adapter: Adapter | None = None
    try:
        with NswSimulator(push_timeout=30, backoff_max=1.0) as nsw:
            adapter = Adapter(f"adapter-{'fed' if fed else 'off'}", store_url, portal.url, nsw.url, workdir)
            nsw.agency_urls = [adapter.intake_url]
            cpu_before = cpu_seconds(adapter.process.pid)
            started = time.monotonic()
            for files in batch:
                nsw.push_dossier(files)
            want = 3 * args.dossiers  # received, submitted, cleared
            final_at = None
            while time.monotonic() - started < args.timeout:
                done = nsw.progress()["all_final"]
                if done and final_at is None:
                    final_at = time.monotonic() - started
                if done and fed:
                    # The queue first: the subscriber's whole state is a large read (every event).
                    done = queue_depth(queue) >= want and subscriber.kept() - kept_before >= want
                if done:
                    break
                time.sleep(0.25)
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(adapter.process.pid) - cpu_before
            if not nsw.progress()["all_final"]:
                raise RuntimeError(f"not every dossier final within {args.timeout} s")
    finally:
        if adapter is not None:
            adapter.stop()
        portal.stop()
        if fed:
            delete_amqp(exchange, queue)
        if args.store == "postgresql":
            drop_pg_database(store_url)
    label = "feed on " if fed else "feed off"
    print(f"  {label}: {elapsed:.1f} s (every dossier final after {final_at or 0:.1f} s), "
          f"daemon CPU {1000 * cpu / args.dossiers:.1f} ms/dossier", flush=True)  # fmt: skip
    return {"seconds": elapsed, "final": final_at or elapsed, "cpu_per_dossier": cpu / args.dossiers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events in the delivery-rate store")
    parser.add_argument("--dossiers", type=int, default=300, help="dossiers per end-to-end run")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--threads", type=int, default=1, help="senders per subscriber (its `threads`) in part 1 and 2"
    )
    args = parser.parse_args()
    compile_package()
    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="nswa-events-bench-"))
    subscriber = Subscriber(workdir)
    try:
        print("1. delivery rate, one subscriber at a time", flush=True)
        rates = delivery_rates(args, workdir, subscriber)
        print("2. end to end", flush=True)
        off = end_to_end(args, workdir, subscriber, fed=False)
        on = end_to_end(args, workdir, subscriber, fed=True)
    finally:
        subscriber.stop()
    ceiling = rates["null"]
    print(
        f"\nstore {args.store}, {args.events} events, {args.dossiers} dossiers end to end, "
        f"{args.threads} sender(s) per subscriber"
    )
    print(f"  events/s: store ceiling (null publisher) {ceiling:.0f}")
    for name in ("webhook", "amqp"):
        print(f"  events/s: {name:<8} {rates[name]:.0f} ({rates[name] / ceiling:.2f} of the ceiling)")
    cpu_on, cpu_off = 1000 * on["cpu_per_dossier"], 1000 * off["cpu_per_dossier"]
    print(
        f"  every dossier final: {on['final']:.1f} s fed against {off['final']:.1f} s off "
        f"({on['final'] / off['final']:.2f}x); the last event at both subscribers "
        f"{on['seconds'] - on['final']:.1f} s after the last final Result"
    )
    print(
        f"  end to end: {on['seconds']:.1f} s fed against {off['seconds']:.1f} s off "
        f"({on['seconds'] / off['seconds']:.2f}x); daemon CPU per dossier {cpu_on:.1f} ms "
        f"against {cpu_off:.1f} ms ({cpu_on / cpu_off:.2f}x, +{cpu_on - cpu_off:.1f} ms for its "
        "3 events to 2 subscribers)"
    )
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; logs in {workdir}")


if __name__ == "__main__":
    main()
