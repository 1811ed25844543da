"""`python -m bench.scale`: the order service at two sizes of data, side by side
(`make bench-scale`). Writes `results/latest.json` and `results/latest.md` beside itself."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import asyncpg

from bench.scale.report import compare, markdown, results_document
from bench.scale.run import Settings, run

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def _sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part]
    if len(sizes) < 2 or sizes != sorted(sizes):
        raise argparse.ArgumentTypeError("two or more sizes, smallest first: 10000,3000000")
    return sizes


async def _postgres_version(dsn: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        version: str = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return version


def _report_again(results_dir: Path) -> None:
    document = json.loads((results_dir / "latest.json").read_text())
    document["comparison"] = compare(document["sizes"])
    (results_dir / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    (results_dir / "latest.md").write_text(markdown(document))
    print(markdown(document))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 3_000_000])
    parser.add_argument("--seconds", type=float, default=10.0, help="per operation and round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="each operation's runs at each size (median)"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="per operation")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--cleanup-keys", type=int, default=1_000_000, help="expired keys to clean up"
    )
    parser.add_argument(
        "--settle", type=float, default=2.0, help="wait for the database's counters"
    )
    parser.add_argument("--database-url", default=LOCAL_POSTGRES, help="creates its own dbs")
    parser.add_argument("--results-dir", type=Path, default=Path(__file__).with_name("results"))
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: compare and write latest.md again from latest.json",
    )
    arguments = parser.parse_args()
    if arguments.report_only:
        _report_again(arguments.results_dir)
        return
    settings = Settings(
        admin_dsn=arguments.database_url,
        sizes=arguments.sizes,
        seconds=arguments.seconds,
        rounds=arguments.rounds,
        warmup=arguments.warmup,
        connections=arguments.connections,
        cleanup_keys=arguments.cleanup_keys,
        settle=arguments.settle,
    )
    sizes = run(settings)
    document = results_document(
        sizes,
        {
            "seconds": settings.seconds,
            "rounds": settings.rounds,
            "warmup": settings.warmup,
            "connections": settings.connections,
            "cleanup_keys": settings.cleanup_keys,
        },
        asyncio.run(_postgres_version(settings.admin_dsn)),
    )
    arguments.results_dir.mkdir(parents=True, exist_ok=True)
    (arguments.results_dir / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    (arguments.results_dir / "latest.md").write_text(markdown(document))
    print(markdown(document))
    if not document["comparison"]["all_met"]:
        print("Some targets are not met (see above).")


if __name__ == "__main__":
    main()
