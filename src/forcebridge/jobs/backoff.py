"""Retry delays: exponential backoff with full jitter, never sooner than ``Retry-After``.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads retries of many jobs
that failed together, so they do not hit the vendor again in lockstep
(https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/). A vendor's
``Retry-After`` is a floor: retrying earlier gets the same or a longer wait (Jira's rate-limit
guide), so the jittered delay is raised to it, never lowered.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def retry_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    base_seconds: float = 1.0,
    cap_seconds: float = 300.0,
    random_fraction: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry).

    The ceiling doubles per attempt from ``base_seconds`` up to ``cap_seconds``; the delay is a
    uniform draw below it, then raised to ``retry_after`` when the vendor gave one.
    """
    exponent = max(0, attempt - 1)
    # 2**exponent overflows floats long after it passes any sensible cap: clamp the exponent.
    ceiling = min(cap_seconds, base_seconds * (2 ** min(exponent, 62)))
    delay = ceiling * random_fraction()
    if retry_after is not None and retry_after > 0:
        delay = max(delay, retry_after)
    return delay
