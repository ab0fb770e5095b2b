"""Races in tests: many threads released at the same instant, to find what a lock misses."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def race(n: int, task: Callable[[int], T]) -> list[T]:
    """Run ``task(0..n-1)`` in ``n`` threads released at the same instant; their results in
    order. An exception in any task is raised here."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait()
        return task(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))
