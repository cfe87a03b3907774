"""Benchmark: re-normalising a changed 100 kB LaTeX file with its includes.

Builds an Overleaf-style paper (main.tex holding the headings, bodies \\input from
sections/, with comments, figure floats, notes and tables to drop or keep), then
times what a status does after an edit: read and expand the files, drop what is
not prose, find a section, normalise and hash it. Also the no-op path, where the
stat cache answers without reading a byte. A benchmark, not a test.

    python bench/normalise.py [--kb 100] [--runs 21] [--inputs 8]
    python bench/normalise.py --kb 1024 --inputs 60 --against /tmp/old-checkout [--rounds 15]

``--against`` times another checkout of figbuild (e.g. ``git worktree add /tmp/old
64c47f3``) on the same paper, alternating one worker process of each for ``--rounds``
rounds, and prints the median of each case for both and their ratio (this code over
the other): on a shared machine, only the same run compares.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The figbuild checkout to time: this one, or the one after --tree (a worker of --against).
sys.path.insert(
    0,
    sys.argv[sys.argv.index("--tree") + 1]
    if "--tree" in sys.argv[:-1]
    else str(Path(__file__).resolve().parent.parent),
)

from figbuild.cache import Cache
from figbuild.content import ContentReader
from figbuild.digests import StatCache
from figbuild.manifest import ContentSource

SENTENCE = (
    "We study the method on several data sets and report the mean over five seeds; "
    "the gains hold across resolutions and are largest where depth is noisy~\\cite{x}. "
)
FLOAT = (
    "\\begin{figure}[t]\n\\centering\n\\includegraphics[width=\\linewidth]{figures/f.png}\n"
    "\\caption{A caption that authors edit often.}\n\\label{fig:f}\n\\end{figure}\n"
)
TABLE = "\\begin{table}[t]\n\\begin{tabular}{lc}\nA & 1.0 \\\\\nB & 2.0 \\\\\n\\end{tabular}\n\\end{table}\n"


def section_body(index: int, target: int) -> str:
    """About ``target`` characters of a section's body, with everything the rules see."""
    parts, size, j = [], 0, 0
    while size < target:
        block = [f"% note {j} on section {index}", SENTENCE * 3, SENTENCE * 2 + "\\todo{Check this.}"]
        if j % 4 == 1:
            block.append(FLOAT)
        if j % 6 == 2:
            block.append(TABLE)
        if j % 9 == 3:
            block.append("\\iffalse\nAn old paragraph.\n\\fi")
        text = "\n".join(block) + "\n\n"
        parts.append(text)
        size += len(text)
        j += 1
    return "".join(parts)


def make_paper(root: Path, kb: int, sections: int = 8) -> int:
    """main.tex with ``sections`` headings, each body \\input from sections/; ``kb`` in all."""
    (root / "sections").mkdir(parents=True)
    per_section = kb * 1024 // (sections + 1)
    main = ["\\documentclass{article}", "\\begin{document}"]
    for index in range(sections):
        main += [f"\\section{{Part {index}}}", f"\\label{{sec:p{index}}}"]
        main += [f"\\input{{sections/part{index}}}", ""]
        body = section_body(index, per_section) + f"\\subsection{{Detail {index}}}\n{SENTENCE}\n"
        (root / "sections" / f"part{index}.tex").write_text(body, encoding="utf-8")
    main += [section_body(99, per_section), "\\end{document}"]
    (root / "main.tex").write_text("\n".join(main), encoding="utf-8")
    return sum(path.stat().st_size for path in root.rglob("*.tex"))


def median_ms(action: object, runs: int) -> float:
    assert callable(action)
    action()  # warm-up: imports, compiled regular expressions
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(kb: int, runs: int, inputs: int = 8) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "paper"
        size = make_paper(root, kb, inputs)
        whole = ContentSource("main.tex")
        one = ContentSource("main.tex", "Part 3")
        # A fresh reader each time: nothing remembered, every file read and cleaned.
        whole_ms = median_ms(lambda: ContentReader(root).parts(whole), runs)
        section_ms = median_ms(lambda: ContentReader(root).parts(one), runs)
        old = time.time_ns() - 10**10
        for path in root.rglob("*.tex"):
            os.utime(path, ns=(old, old))
        cache = Cache(None)
        ContentReader(root, StatCache(cache, "content")).parts(one)
        cached_ms = median_ms(lambda: ContentReader(root, StatCache(cache, "content")).parts(one), runs)
        changed_ms = median_ms(lambda: one_file_changed(root, inputs), runs)
        (part,) = ContentReader(root).parts(whole)
    return {
        "code": str(Path(sys.modules[ContentReader.__module__].__file__ or "").parents[2]),
        "source_bytes": size,
        "files": inputs + 1,
        "sent_chars": part.length,
        "whole_document_ms": whole_ms,
        "one_section_ms": section_ms,
        "unchanged_from_stat_cache_ms": cached_ms,
        "one_file_changed_ms": changed_ms,
    }


def one_file_changed(root: Path, inputs: int) -> None:
    """A status after one input of many changed: every section figure of main.tex is read
    again (the document is one expansion), the stat cache answers nothing for them."""
    path = root / "sections" / f"part{inputs // 2}.tex"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("five seeds", "six seeds", 1) if "five" in text else text, encoding="utf-8")
    reader = ContentReader(root)
    for index in range(0, inputs, max(1, inputs // 6)):
        reader.parts(ContentSource("main.tex", f"Part {index}"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--inputs", type=int, default=8, help="section files \\input from main.tex")
    parser.add_argument("--against", type=Path, help="another figbuild checkout to compare with")
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds for --against")
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.against is None:
        print(json.dumps(measure(args.kb, args.runs, args.inputs), indent=2))
        return
    print(json.dumps(compare(args.against.resolve(), args.kb, args.runs, args.inputs, args.rounds), indent=2))


HERE = Path(__file__).resolve().parent.parent
CASES = ("whole_document_ms", "one_section_ms", "one_file_changed_ms", "unchanged_from_stat_cache_ms")


def compare(other: Path, kb: int, runs: int, inputs: int, rounds: int) -> dict[str, object]:
    """Each case's median over ``rounds`` alternating worker runs of this code and ``other``."""
    samples: dict[Path, dict[str, list[float]]] = {
        tree: {case: [] for case in CASES} for tree in (HERE, other)
    }
    for _ in range(rounds):
        for tree in (HERE, other):
            command = [sys.executable, __file__, "--kb", str(kb), "--runs", str(runs)]
            command += ["--inputs", str(inputs), "--tree", str(tree)]
            result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            assert Path(result["code"]) == tree, f"{tree} timed the code of {result['code']}"
            for case in CASES:
                samples[tree][case].append(result[case])
    out: dict[str, object] = {"this": str(HERE), "other": str(other), "rounds": rounds}
    for case in CASES:
        mine, theirs = statistics.median(samples[HERE][case]), statistics.median(samples[other][case])
        out[case] = {"this": round(mine, 2), "other": round(theirs, 2), "ratio": round(mine / theirs, 3)}
    return out


if __name__ == "__main__":
    main()
