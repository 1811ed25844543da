"""The results side by side: each operation at the smallest and the largest size, the ratio
between them, and whether the targets are met."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from typing import Any

# At the largest size against the smallest: reads' latency within 1.3×, writes' within 1.15×;
# reads' buffers per request bounded (below); checkout's p99 during a clean-up within 1.5× of
# its p99 without, and the clean-up never failing.
READ_TARGET = 1.3
WRITE_TARGET = 1.15
CLEANUP_TARGET = 1.5
# A read's buffers are bounded when the larger data adds no more than its indexes' height: at
# most the small size's, plus one per descent into an index for each level that index gained,
# plus one heap page the page's rows may straddle. A read that walks rows it then discards
# touches buffers in proportion to them, and misses.
HEAP_SLACK = 1
BUFFERS_RULE = (
    "buffers at the large size at most the small size's + (descents into each index × the"
    f" levels it gained) + {HEAP_SLACK}"
)


def _ratio(large: float, small: float) -> float | None:
    return round(large / small, 3) if small > 0 else None


def _within(ratio: float | None, target: float) -> bool:
    return ratio is not None and ratio <= target


def _buffers(measured: dict[str, Any]) -> float:
    """Per request: a read's statement's own (exact), else the database's counters."""
    if measured.get("plan_buffers") is not None:
        return float(measured["plan_buffers"])
    return float(measured["buffers_hit"] + measured["buffers_read"])


def buffers_allowed(at_small: dict[str, Any], at_large: dict[str, Any]) -> float | None:
    """The most buffers a read may touch at the large size (`BUFFERS_RULE`); None when the
    results say nothing of its indexes (a run before they were recorded)."""
    descents = at_large.get("index_descents")
    small_levels, large_levels = at_small.get("index_levels"), at_large.get("index_levels")
    if descents is None or small_levels is None or large_levels is None:
        return None
    gained = sum(
        loops * max(0, large_levels.get(name, 0) - small_levels.get(name, 0))
        for name, loops in descents.items()
    )
    return _buffers(at_small) + float(gained) + HEAP_SLACK


def _buffers_met(at_small: dict[str, Any], at_large: dict[str, Any], ratio: float | None) -> bool:
    if at_small["is_write"]:
        return True
    allowed = buffers_allowed(at_small, at_large)
    if allowed is None:
        # Results without the indexes' levels: the buffers' ratio, as they were judged then.
        return _within(ratio, READ_TARGET)
    return _buffers(at_large) <= allowed


def compare(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    small, large = sizes[0], sizes[-1]
    operations = {}
    for name, at_small in small["operations"].items():
        at_large = large["operations"][name]
        target = WRITE_TARGET if at_small["is_write"] else READ_TARGET
        p50 = _ratio(at_large["p50_ms"], at_small["p50_ms"])
        p99 = _ratio(at_large["p99_ms"], at_small["p99_ms"])
        buffers = _ratio(_buffers(at_large), _buffers(at_small))
        # Latency at the median (the tail on a shared machine is mostly other work's), and,
        # for reads, the buffers a request touches; no errors at either size.
        latency_met = _within(p50, target) and at_small["errors"] == at_large["errors"] == 0
        buffers_met = _buffers_met(at_small, at_large, buffers)
        allowed = None if at_small["is_write"] else buffers_allowed(at_small, at_large)
        operations[name] = {
            "target": target,
            "p50_ratio": p50,
            "p99_ratio": p99,
            "buffers_ratio": buffers,
            "buffers_allowed": round(allowed, 1) if allowed is not None else None,
            "latency_met": latency_met,
            "buffers_met": buffers_met,
            "met": latency_met and buffers_met,
        }
    cleanups = [size["checkout_during_cleanup"] for size in sizes]
    cleanup_met = all(
        not run["cleanup"]["failed"]
        and run["cleanup"]["expired_keys_left"] == 0
        and _within(run["p99_ratio"], CLEANUP_TARGET)
        for run in cleanups
    )
    return {
        "operations": operations,
        "cleanup": {"target": CLEANUP_TARGET, "met": cleanup_met},
        "all_met": cleanup_met and all(op["met"] for op in operations.values()),
    }


def results_document(
    sizes: list[dict[str, Any]], settings: dict[str, Any], postgres: str
) -> dict[str, Any]:
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "postgres": postgres},
        "settings": settings,
        "sizes": sizes,
        "comparison": compare(sizes),
    }


def _yes(met: bool) -> str:
    return "met" if met else "**not met**"


def _allowed(verdict: dict[str, Any]) -> str:
    allowed = verdict.get("buffers_allowed")
    # Results from before the levels were recorded: judged by the ratio, as they were then.
    return f"≤{allowed}" if allowed is not None else "n/a (ratio)"


def markdown(document: dict[str, Any]) -> str:
    sizes = document["sizes"]
    small, large = sizes[0], sizes[-1]
    comparison = document["comparison"]
    a, b = f"{small['orders']:,}", f"{large['orders']:,}"
    rounds = document["settings"].get("rounds", 1)
    lines = [
        f"# Scale benchmark: {a} against {b} orders",
        "",
        f"Generated {document['generated_at']} (`python -m bench.scale`); Postgres"
        f" {document['machine']['postgres']}; settings {document['settings']}.",
        f"Loaded in {small['load_seconds']} s and {large['load_seconds']} s.",
        "",
        f"Latency in ms under load (wrk), the median of {rounds} rounds at each size (the"
        " sizes in turn, every other round in reverse). Buffers: shared buffers hit + read"
        " per request; for reads, of the statement the service runs (`EXPLAIN (ANALYZE,"
        " BUFFERS)`), for writes the database's counters over the run (approximate). Ratios:"
        " the large size over the small one; the verdict takes the p50 and, for reads, the"
        " buffers.",
        "",
        f"Reads' buffers per request are bounded, not judged by a ratio: {BUFFERS_RULE}"
        " (\"allowed\"; the descents and levels are the plan's and `bt_metap`'s). A B-tree"
        " level more costs each descent a buffer more; a read that walks rows it discards"
        " touches buffers in proportion to them, and misses.",
        "",
        f"| operation | p50 {a} | p50 {b} | p99 {a} | p99 {b} | buffers {a} | buffers {b}"
        " | p50 × | p99 × | buffers × | buffers allowed | latency target | latency | buffers"
        " | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, verdict in comparison["operations"].items():
        s, l_ = small["operations"][name], large["operations"][name]
        lines.append(
            f"| {name} | {s['p50_ms']:.2f} | {l_['p50_ms']:.2f} | {s['p99_ms']:.2f}"
            f" | {l_['p99_ms']:.2f} | {_buffers(s):.1f} | {_buffers(l_):.1f}"
            f" | {verdict['p50_ratio']}"
            f" | {verdict['p99_ratio']} | {verdict['buffers_ratio']}"
            f" | {_allowed(verdict)} | ≤{verdict['target']}"
            f" | {_yes(verdict['latency_met'])} | {_yes(verdict['buffers_met'])}"
            f" | {_yes(verdict['met'])} |"
        )
    lines += [
        "",
        "## Checkout during the clean-up of expired idempotency keys",
        "",
        "| orders | expired keys | clean-up s | in batches s | failed | keys left | p99 without"
        " | p99 during | × | rps without | rps during |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        run = size["checkout_during_cleanup"]
        lines.append(
            f"| {size['orders']:,} | {run['cleanup']['expired_keys']:,}"
            f" | {run['cleanup']['seconds']} | {run['cleanup'].get('batch_seconds', 'n/a')}"
            f" | {run['cleanup']['failed']}"
            f" | {run['cleanup']['expired_keys_left']} | {run['without']['p99_ms']}"
            f" | {run['during']['p99_ms']} | {run['p99_ratio']} | {run['without']['rps']}"
            f" | {run['during']['rps']} |"
        )
    pace = sizes[0]["checkout_during_cleanup"].get("pace")
    if pace is not None:
        lines += [
            "",
            f"The clean-up deletes {pace['batch_size']:,} keys a transaction and pauses after"
            f" each so that its transactions fill at most {pace['database_share']} of its time"
            " (a pause in proportion to the batch's duration).",
        ]
    if "seconds" in sizes[0]["checkout_during_cleanup"]["during"]:
        lines += [
            "",
            "Checkout is measured without a clean-up first, then for the whole of the"
            " clean-up's run, from its start to its end; each p99 is over all of its run's"
            " requests.",
        ]
    lines += [
        "",
        f"Clean-up target (never fails, checkout p99 within {comparison['cleanup']['target']}×):"
        f" {_yes(comparison['cleanup']['met'])}.",
        "",
        f"All targets: {_yes(comparison['all_met'])}.",
        "",
    ]
    return "\n".join(lines)
