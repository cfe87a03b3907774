"""Benchmark: the history store with many entries, as `figbuild log` and `status` use it.

Fills a store through `Store.put` (200 figures x 50 versions by default, a fifth
of them restores of earlier bytes), then times, in ms (median of --runs):

- ``open+lookup``: a new Store (as a fresh process has) answering one fingerprint:
  reading and checking the whole index, then verifying the image's bytes;
- ``lookup``: one more fingerprint from the same Store (what status pays per figure);
- ``open+history``, ``history``: one figure's versions, cold and warm;
- ``open+ledger``: every entry and the credit ledger over them, cold.

    python bench/store.py [--figures 200] [--versions 50] [--runs 7] [--store DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figbuild.store import How, Meta, Store, ledger


def fill(path: Path, figures: int, versions: int) -> float:
    """Store ``figures * versions`` entries; the seconds per put."""
    store = Store(path, paper="bench")
    started = time.perf_counter()
    for v in range(versions):
        for f in range(figures):
            restored = v % 5 == 4
            data = b"\x89PNG\r\n\x1a\n" + f"figure {f} version {v - 1 if restored else v}".encode() * 40
            store.put(
                data,
                Meta(
                    fingerprint=f"sha256:{f:04d}-{v:04d}",
                    figure=f"fig-{f:04d}",
                    how=How.RESTORED if restored else How.GENERATED,
                    task_id=None if restored else f"task-{f}-{v}",
                    credits=0 if restored else 3,
                    model="nano-banana-pro",
                    resolution="2K",
                    when=f"2026-{1 + v % 12:02d}-01T00:{f % 60:02d}:00Z",
                ),
            )
    return (time.perf_counter() - started) / (figures * versions)


def median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(figures: int, versions: int, runs: int, keep: Path | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = keep or Path(tmp) / "store"
        put_s = fill(path, figures, versions) if not (path / "index").is_dir() else float("nan")
        warm = Store(path, paper="bench")
        warm.entries()
        fingerprint = f"sha256:{figures // 2:04d}-{versions // 2:04d}"
        figure = f"fig-{figures // 2:04d}"
        assert len(warm.lookup(fingerprint)) == 1
        assert len(warm.history(figure)) == versions
        return {
            "entries": figures * versions,
            "index_files": len(list((path / "index").iterdir())),
            "put_ms": put_s * 1000,
            "open+lookup_ms": median_ms(lambda: Store(path).lookup(fingerprint), runs),
            "lookup_ms": median_ms(lambda: warm.lookup(fingerprint), runs),
            "open+history_ms": median_ms(lambda: Store(path, paper="bench").history(figure), runs),
            "history_ms": median_ms(lambda: warm.history(figure), runs),
            "open+ledger_ms": median_ms(lambda: ledger(Store(path).entries()), runs),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=int, default=200)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--store", type=Path, help="fill this store once and reuse it on later runs")
    args = parser.parse_args()
    result = measure(args.figures, args.versions, args.runs, args.store)
    print(json.dumps({k: round(v, 3) for k, v in result.items()}, indent=2))


if __name__ == "__main__":
    main()
