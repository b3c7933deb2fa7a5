"""What splitting a placement across agencies costs: `allocate` (stratified by DPD bucket × balance quartile,
weighted, seeded) over 100,000 candidate accounts, against the floor of the same work without the strata — one
seeded shuffle and a weighted cut of the same candidates — measured in the same run, in this process.

No flags, no database. BENCH_ACCOUNTS (default 100000) candidates; BENCH_RUNS (default 5) runs of each, the median
reported. Ends with: RESULT allocate_ms=… shuffle_ms=… ratio=… accounts=…  (ratio = shuffle_ms / allocate_ms:
how close the stratified split comes to an unstratified one)
"""
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tenants.placements.allocation import Candidate, allocate  # noqa: E402  (after the path: run as a script)

WEIGHTS = {"a": 5, "b": 3, "c": 2}


def candidates(n: int, seed: int = 11) -> list[Candidate]:
    rng = random.Random(seed)
    return [Candidate(account_id=str(uuid.UUID(int=rng.getrandbits(128))),
                      balance_minor=int(rng.lognormvariate(11, 1.2)), days_past_due=rng.randint(0, 720))
            for _ in range(n)]


def shuffle_and_cut(pool: list[Candidate], weights: dict[str, int], seed: int) -> dict[str, str]:
    order = pool[:]
    random.Random(seed).shuffle(order)
    total, assignment, start = sum(weights.values()), {}, 0
    for agency, weight in weights.items():
        end = start + len(order) * weight // total
        assignment.update((c.account_id, agency) for c in order[start:end])
        start = end
    assignment.update((c.account_id, agency) for c in order[start:])
    return assignment


def median_ms(work, runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    n, runs = int(os.environ.get("BENCH_ACCOUNTS", 100_000)), int(os.environ.get("BENCH_RUNS", 5))
    pool = candidates(n)
    allocate_ms = median_ms(lambda: allocate(pool, WEIGHTS, seed=9), runs)
    shuffle_ms = median_ms(lambda: shuffle_and_cut(pool, WEIGHTS, seed=9), runs)
    print(f"allocate {n:,} candidates: {allocate_ms:.0f} ms (median of {runs}); shuffle and cut: {shuffle_ms:.0f} ms")
    print(f"RESULT allocate_ms={allocate_ms:.1f} shuffle_ms={shuffle_ms:.1f} ratio={shuffle_ms / allocate_ms:.3f} "
          f"accounts={n}")


if __name__ == "__main__":
    main()
