"""What the Python benchmarks share: their arguments and the miniature crawl they run on."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CCMIX = REPO / "bin" / "ccmix.js"
CRAWLS = "CC-MAIN-2017-04,CC-MAIN-2018-34,CC-MAIN-2019-04,CC-MAIN-2019-51"


def bench_args(description: str, default_size: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size", type=int, default=default_size)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crawls", default=CRAWLS)
    return parser.parse_args()


def generate_mini_crawl(out: Path, args: argparse.Namespace) -> Path:
    """`ccmix mini-crawl` into `out`, from the benchmark's --size, --seed and --crawls."""
    command = ["node", str(CCMIX), "mini-crawl", "--out", str(out), "--size", str(args.size)]
    command += ["--seed", str(args.seed), "--crawls", args.crawls]
    subprocess.run(command, check=True, capture_output=True)
    return out
