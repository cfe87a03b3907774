"""How long `figbuild gallery` takes on a big paper.

    python bench/gallery.py [--figures 200]

A generated paper (bench/common.py) at 1K, filled with placeholder images, then:
- cold: the first build, every thumbnail made (Pillow, every core);
- warm: a build into a new folder with the thumbnails cached by image hash (the
  case the 2 s goal is about: a gallery rebuilt while writing);
- rebuild: the same folder again, as `--serve` does after a change;
- cli: `figbuild gallery` as a subprocess with warm thumbnails (interpreter start-up included).
Nothing is asserted; the numbers are printed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import figbuild, make_paper, median_seconds, user_env

from figbuild.gallery import site
from figbuild.paper import Paper


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def measure(figures: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="figbuild-bench-gallery-") as scratch:
        root = make_paper(Path(scratch) / "paper", figures, resolution="1K")
        env = user_env(XDG_CACHE_HOME=str(Path(scratch) / "cache"))
        subprocess.run(figbuild("-C", str(root), "sync", "--placeholder"), env=env, check=True)
        cold = timed(lambda: site.build(Paper.open(root), Path(scratch) / "cold"))
        warm = timed(lambda: site.build(Paper.open(root), Path(scratch) / "warm"))
        rebuild = timed(lambda: site.build(Paper.open(root), Path(scratch) / "warm"))
        shutil.rmtree(root / ".figbuild" / "gallery", ignore_errors=True)
        cli = median_seconds(figbuild("-C", str(root), "gallery"), runs=3, env=env)
        return {"figures": figures, "cold": cold, "warm": warm, "rebuild": rebuild, "cli": cli}


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--figures", type=int, default=200)
    args = parser.parse_args()
    result = measure(args.figures)
    print(f"gallery of {result['figures']} figures:")
    print(f"  cold build (every thumbnail made):       {result['cold']:.2f} s")
    print(f"  warm build (thumbnails cached by hash):  {result['warm']:.2f} s")
    print(f"  rebuild of the same site:                {result['rebuild']:.2f} s")
    print(f"  `figbuild gallery`, warm, median of 3:   {result['cli']:.2f} s")


if __name__ == "__main__":
    main()
