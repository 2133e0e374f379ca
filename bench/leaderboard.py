"""Leaderboard benchmark: build a board of N members, then time standing lookups and updates in process.

Run: .venv/bin/python bench/leaderboard.py --members 1000000
Reports medians over repeated single operations, build time and memory per member (tracemalloc).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import tracemalloc

from guild_reputation.domain.leaderboard import Leaderboard


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    members = [f"member-{i:07d}" for i in range(args.members)]
    points = [rng.randrange(0, 50_000) for _ in members]

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    board = Leaderboard()
    for member, value in zip(members, points, strict=True):
        board.set(member, value)
    build_s = time.perf_counter() - started
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    lookups = [rng.choice(members) for _ in range(args.lookups)]
    standing_samples = []
    for member in lookups:
        t0 = time.perf_counter()
        board.standing(member)
        standing_samples.append(time.perf_counter() - t0)
    update_samples = []
    for member in lookups[: args.lookups // 4]:
        t0 = time.perf_counter()
        board.set(member, rng.randrange(0, 50_000))
        update_samples.append(time.perf_counter() - t0)
    top_samples = []
    for _ in range(1000):
        t0 = time.perf_counter()
        board.top(10)
        top_samples.append(time.perf_counter() - t0)

    print(f"members                 {args.members:>12,}")
    print(f"build (set each)        {build_s:>12.2f} s (under tracemalloc)")
    per_member = (after - before) / args.members
    print(f"memory per member       {per_member:>12.0f} B (board only; id strings not counted)")
    print(f"standing median         {_median_us(standing_samples):>12.2f} us")
    p99 = sorted(standing_samples)[int(len(standing_samples) * 0.99)] * 1e6
    print(f"standing p99            {p99:>12.2f} us")
    print(f"update median           {_median_us(update_samples):>12.2f} us")
    print(f"top-10 median           {_median_us(top_samples):>12.2f} us")


if __name__ == "__main__":
    main()
