"""`--profile`: py-spy samples the server of each scenario while it is measured."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def profiling(pid: int, output: Path | None) -> Iterator[None]:
    """Samples `pid` until the block ends, into `output` as collapsed stacks plus a summary of
    the functions that were on the CPU most (their own time, then with what they called)."""
    if output is None:
        yield
        return
    # Installed beside the interpreter, which need not be on PATH.
    py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.defpath}")
    if py_spy is None:
        raise RuntimeError("--profile needs py-spy (it is in the dev dependencies)")
    output.parent.mkdir(parents=True, exist_ok=True)
    raw = output.with_suffix(".collapsed")
    recorder = subprocess.Popen(  # noqa: S603 - py-spy with our arguments, no shell
        [py_spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
         "--function", "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        recorder.send_signal(2)  # SIGINT: py-spy writes what it has and exits
        recorder.wait(timeout=60)
    output.write_text(summary(raw.read_text()))


def summary(collapsed: str, top: int = 40) -> str:
    """The top functions by own samples and by inclusive samples, in percent of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "with callees:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"
