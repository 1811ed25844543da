"""`python -m auth_service serve | migrate | settings
| create-admin --email E [--password P] [--reset-password] | generate-key --out FILE`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from auth_service.admins import AccountExists, AdminReset, create_admin, reset_admin
from auth_service.config import AuthSettings
from auth_service.keys import write_new_private_key
from auth_service.passwords import Passwords
from shared.cli import serve, settings_table
from shared.database import create_engine, create_sessionmaker, utc_now
from shared.logging import configure_logging

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "auth_alembic_version"


class AdminRefused(Exception):
    """`create-admin` changed nothing; the message says why and what to do instead."""


async def _create_admin(
    settings: AuthSettings, email: str, password: str, *, reset_password: bool
) -> str:
    """Make the admin; what to tell the operator, or `AdminRefused` with the reason."""
    engine = create_engine(settings)
    passwords = Passwords.from_settings(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            if reset_password:
                reset = await reset_admin(session, passwords, email, password, now=utc_now())
                return _reset_message(reset, settings)
            try:
                user = await create_admin(session, passwords, email, password)
            except AccountExists as exists:
                raise AdminRefused(_refusal(exists)) from None
    finally:
        await engine.dispose()
    return f"{user.email} is a new admin (id {user.id})"


def _refusal(exists: AccountExists) -> str:
    user = exists.user
    if exists.is_admin:
        return (
            f"{user.email} is an admin already (id {user.id}); nothing changed. To set its"
            " password and end its sessions, run this again with --reset-password."
        )
    return (
        f"{user.email} already has an account (id {user.id}), which was not promoted:"
        " whoever registered it chose its password, and could sign in as admin. If the"
        " account is yours, run this again with --reset-password: it sets the password given"
        " here, ends every session of the account, then makes it an admin."
    )


def _reset_message(reset: AdminReset, settings: AuthSettings) -> str:
    user = reset.user
    return (
        f"{user.email} is an admin (id {user.id}) with the password given;"
        f" {reset.ended_sign_ins} sign-in(s) ended. Access tokens issued before stay valid"
        f" until they expire, within {settings.access_token_ttl_seconds} s"
        " (AUTH_ACCESS_TOKEN_TTL_SECONDS)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m auth_service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the HTTP API")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("settings", help="list the environment variables read (Markdown)")
    admin = commands.add_parser(
        "create-admin",
        help="create an admin account; an existing account only with --reset-password",
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="prompted for when omitted")
    admin.add_argument(
        "--reset-password",
        action="store_true",
        help="if the email has an account: set its password, end its sessions, make it admin",
    )
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
        try:
            done = asyncio.run(
                _create_admin(settings, args.email, password, reset_password=args.reset_password)
            )
        except AdminRefused as refused:
            sys.exit(f"create-admin: {refused}")
        sys.stdout.write(done + "\n")


if __name__ == "__main__":
    main()
