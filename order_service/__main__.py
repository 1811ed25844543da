"""`python -m order_service serve | migrate | settings`."""

from __future__ import annotations

import argparse
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
    else:
        # Imported here: Alembic adds ~10 MiB to the resident memory of every process that
        # loads it, and the server never migrates.
        from shared.migrations import upgrade_to_head

        upgrade_to_head(MIGRATIONS, settings.database_url, VERSION_TABLE)


if __name__ == "__main__":
    main()
