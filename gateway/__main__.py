"""`python -m gateway serve | settings` (the gateway has no database, so no `migrate`)."""

from __future__ import annotations

import argparse
import sys

from gateway.config import GatewaySettings
from shared.cli import serve, settings_table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the HTTP API")
    commands.add_parser("settings", help="list the environment variables read (Markdown)")
    args = parser.parse_args()
    if args.command == "settings":
        sys.stdout.write(settings_table(GatewaySettings))
        return
    serve("gateway.app:create_app", GatewaySettings(), "gateway")


if __name__ == "__main__":
    main()
