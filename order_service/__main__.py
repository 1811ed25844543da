"""`python -m order_service serve | relay | migrate | settings`."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from order_service.config import OrdersSettings
from shared.cli import serve, settings_table
from shared.logging import configure_logging

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "orders_alembic_version"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m order_service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the HTTP API")
    commands.add_parser("relay", help="deliver the events to webhook endpoints")
    commands.add_parser("settings", help="list the environment variables read (Markdown)")
    commands.add_parser("migrate", help="bring the database schema up to date")
    args = parser.parse_args()
    if args.command == "settings":
        sys.stdout.write(settings_table(OrdersSettings))
        return

    settings = OrdersSettings()
    configure_logging("order_service", settings.log_level)
    if args.command == "serve":
        serve("order_service.app:create_app", settings, "order_service")
    elif args.command == "relay":
        relay(settings)
    else:
        # Imported here: Alembic adds ~10 MiB to the resident memory of every process that
        # loads it, and the server never migrates.
        from shared.migrations import upgrade_to_head

        upgrade_to_head(MIGRATIONS, settings.database_url, VERSION_TABLE)


def relay(settings: OrdersSettings) -> None:
    """Run the relay, with its health and metrics on its own port, until SIGTERM or SIGINT;
    then it drains and ends with 0."""
    # uvicorn re-raises the signal it stopped on once it has shut down (the relay has drained
    # by then), and before it starts there is nothing to drain: either way, a clean exit.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda *_: sys.exit(0))
    relay_settings = settings.model_copy(update={"port": settings.relay_port})
    serve("order_service.relay.app:create_relay_app", relay_settings, "order_relay")


if __name__ == "__main__":
    main()
