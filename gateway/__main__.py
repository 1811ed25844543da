"""`python -m gateway serve` (the gateway has no database, so no `migrate`)."""

from __future__ import annotations

import argparse

from gateway.config import GatewaySettings
from shared.cli import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the HTTP API")
    parser.parse_args()
    serve("gateway.app:create_app", GatewaySettings(), "gateway")


if __name__ == "__main__":
    main()
