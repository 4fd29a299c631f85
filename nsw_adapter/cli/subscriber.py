"""`nsw-adapter simulate subscriber`: the reference consumer of the event feed (webhook, and AMQP).

Registered under `simulate` beside the portal and the NSW. Starts with no flags: a webhook
receiver on 127.0.0.1:8803 checking the demo's signing secret. Exit codes: 0 after a clean
stop, 2 for usage errors (a fault SPEC that does not parse, a secret not in whsec_ form).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook

from nsw_adapter.events.config import DEFAULT_EXCHANGE
from nsw_adapter.simulators.faults import FaultSpecError, parse_fault_spec
from nsw_adapter.simulators.http import serve_until_interrupted
from nsw_adapter.simulators.subscriber import (
    DEMO_SECRET,
    PATH,
    AmqpSource,
    SubscriberConfig,
    make_subscriber_app,
)

DEFAULT_PORT = 8803


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `simulate subscriber` to the `simulate` command (cli/simulate.py registers it first)."""
    simulate = commands.choices["simulate"]
    which = next(a for a in simulate._actions if isinstance(a, argparse._SubParsersAction))
    parser = which.add_parser(
        "subscriber",
        help="an agency's receiver of the event feed: webhook (signatures checked, deduplicated), AMQP",
        description="The reference subscriber: verifies each webhook delivery's Standard Webhooks "
        "signature, keeps each event once by id, and shows what it kept on /admin/state.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT}; 0: any free)")
    parser.add_argument(
        "--secret", default=DEMO_SECRET, help="the webhook signing secret, whsec_... (the demo's)"
    )
    parser.add_argument(
        "--faults", metavar="SPEC", help="fault injection on the webhook, e.g. seed=1,unavailable=0.3"
    )
    parser.add_argument("--amqp-url", metavar="URL", help="also consume the feed from this broker")
    parser.add_argument("--amqp-queue", default="nsw-adapter-subscriber", metavar="NAME",
                        help="the durable queue to declare and consume (nsw-adapter-subscriber)")  # fmt: skip
    parser.add_argument(
        "--exchange", default=DEFAULT_EXCHANGE, help=f"the feed's exchange ({DEFAULT_EXCHANGE})"
    )
    parser.add_argument("--binding", action="append", metavar="KEY",
                        help="keys to bind the queue with (default #), e.g. dossier.cleared.*")  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="log each request")
    parser.set_defaults(handler=run_subscriber)


def run_subscriber(args: argparse.Namespace) -> int:
    """Serve the reference subscriber until interrupted."""
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        faults = parse_fault_spec(args.faults)
        Webhook(args.secret)
    except FaultSpecError as exc:
        return _usage(f"--faults: {exc}")
    except Exception:  # the library's own errors for a secret it cannot read
        return _usage("--secret: not a Standard Webhooks secret (whsec_ and base64)")
    amqp = None
    if args.amqp_url:
        amqp = AmqpSource(args.amqp_url, args.amqp_queue, args.exchange, tuple(args.binding or ("#",)))
    config = SubscriberConfig(secret=args.secret, faults=faults, amqp=amqp)

    def announce(port: int) -> None:
        also = f"; consuming queue {args.amqp_queue} on exchange {args.exchange}" if amqp else ""
        print(
            f"subscriber listening on http://{args.host}:{port}{PATH} (admin: /admin/state); "
            f"faults: {args.faults or 'off'}{also}",
            flush=True,
        )

    async def make() -> web.Application:
        return await make_subscriber_app(config)

    return serve_until_interrupted(make, args.host, args.port, announce)


def _usage(text: str) -> int:
    print(f"nsw-adapter simulate subscriber: {text}", file=sys.stderr)
    return 2
