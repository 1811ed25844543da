"""Time-ordered identifiers for new rows: UUID version 7 (RFC 9562, §5.7).

A version 4 id is random, so each new row's key lands on a random page of its indexes: at
millions of rows those pages are seldom in memory, and every insert reads and dirties one.
A version 7 id begins with the Unix time in milliseconds, so new keys go to the right-hand
end of the index, where the pages are hot. Ids made earlier (version 4 included) stay valid:
a uuid column takes any version.

Within one millisecond, ids from this process still increase: the 42 bits after the time are
a counter (RFC 9562 §6.2, method 1), begun at a random value with its top bit clear each
millisecond and incremented for each further id, and the last 32 bits are random. Should the
counter run out, or the clock step back, the time field moves on past the last id's.
(Python 3.14's `uuid.uuid7` does the same; this one serves Python 3.11 to 3.13.)
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_COUNTER_MAX = (1 << 42) - 1

# The wall clock, in nanoseconds (a test sets its own).
_clock_ns = time.time_ns
_lock = threading.Lock()
_last_ms = -1
_last_counter = 0


def _fresh_counter_and_tail() -> tuple[int, int]:
    random_bits = int.from_bytes(os.urandom(10), "big")
    # 41 random bits: the counter's top bit starts clear, leaving room to count up.
    return (random_bits >> 32) & (_COUNTER_MAX >> 1), random_bits & 0xFFFF_FFFF


def uuid7() -> uuid.UUID:
    """A new UUIDv7: later than every one this process made before."""
    global _last_ms, _last_counter  # the generator's state, under its lock
    with _lock:
        now_ms = _clock_ns() // 1_000_000
        if now_ms > _last_ms:
            counter, tail = _fresh_counter_and_tail()
        else:
            now_ms = _last_ms
            counter = _last_counter + 1
            tail = int.from_bytes(os.urandom(4), "big")
            if counter > _COUNTER_MAX:
                now_ms += 1
                counter, tail = _fresh_counter_and_tail()
        _last_ms, _last_counter = now_ms, counter
    value = (now_ms & 0xFFFF_FFFF_FFFF) << 80
    value |= (counter >> 30) << 64  # rand_a: the counter's top 12 bits
    value |= (counter & 0x3FFF_FFFF) << 32  # the first 30 bits of rand_b
    value |= tail
    return uuid.UUID(int=value | _VERSION_7 | _VARIANT_RFC)
