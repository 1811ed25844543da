"""`python -m auth_service serve | migrate | settings | create-admin --email E [--password P]
| generate-key --out FILE`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from auth_service.config import AuthSettings
from auth_service.keys import write_new_private_key
from auth_service.passwords import Passwords
from auth_service.users import ensure_admin
from shared.cli import serve, settings_table
from shared.database import create_engine, create_sessionmaker
from shared.logging import configure_logging

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "auth_alembic_version"


async def _create_admin(settings: AuthSettings, email: str, password: str) -> None:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            user = await ensure_admin(session, Passwords.from_settings(settings), email, password)
    finally:
        await engine.dispose()
    sys.stdout.write(f"{user.email} is an admin (id {user.id})\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m auth_service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the HTTP API")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("settings", help="list the environment variables read (Markdown)")
    create_admin = commands.add_parser(
        "create-admin", help="make an account an admin, creating it when missing"
    )
    create_admin.add_argument("--email", required=True)
    create_admin.add_argument("--password", help="prompted for when omitted")
    generate_key = commands.add_parser(
        "generate-key", help="write a new RS256 signing key (PEM) for a key rotation"
    )
    generate_key.add_argument("--out", type=Path, required=True, help="a file that must not exist")
    args = parser.parse_args()

    if args.command == "settings":
        sys.stdout.write(settings_table(AuthSettings))
        return
    if args.command == "generate-key":
        # Needs no settings or database: it runs wherever the secret is prepared.
        try:
            key = write_new_private_key(args.out)
        except FileExistsError:
            parser.error(f"{args.out} exists: a key is never overwritten, choose a new file")
        sys.stdout.write(f"wrote {args.out} (kid {key.kid})\n")
        return

    settings = AuthSettings()
    configure_logging("auth_service", settings.log_level)
    if args.command == "serve":
        serve("auth_service.app:create_app", settings, "auth_service")
    elif args.command == "migrate":
        # Imported here: Alembic adds ~10 MiB to the resident memory of every process that
        # loads it, and the server never migrates.
        from shared.migrations import upgrade_to_head

        upgrade_to_head(MIGRATIONS, settings.database_url, VERSION_TABLE)
    else:
        password = args.password or getpass.getpass("Password: ")
        asyncio.run(_create_admin(settings, args.email, password))


if __name__ == "__main__":
    main()
