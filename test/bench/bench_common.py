"""What the Python benchmarks share: their arguments and the miniature crawl they run on."""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CCMIX = REPO / "bin" / "ccmix.js"
CRAWLS = "CC-MAIN-2017-04,CC-MAIN-2018-34,CC-MAIN-2019-04,CC-MAIN-2019-51"


def bench_args(description: str, default_size: int, **more_ints: int) -> argparse.Namespace:
    """--size, --seed, --crawls, and an integer option per `more_ints` (name=default)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size", type=int, default=default_size)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crawls", default=CRAWLS)
    for name, default in more_ints.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    return parser.parse_args()


def generate_mini_crawl(out: Path, args: argparse.Namespace) -> Path:
    """`ccmix mini-crawl` into `out`, from the benchmark's --size, --seed and --crawls."""
    command = ["node", str(CCMIX), "mini-crawl", "--out", str(out), "--size", str(args.size)]
    command += ["--seed", str(args.seed), "--crawls", args.crawls]
    subprocess.run(command, check=True, capture_output=True)
    return out


def job_server_session(app_name: str):
    """A long-lived `local[1]` session whose Python workers import spark_jobs, as the job server's
    do (it gets the package from its PYTHONPATH). The caller stops it."""
    from spark_jobs.spark_session import local_spark

    paths = [str(REPO / "spark-jobs"), os.environ.get("PYTHONPATH")]
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    return local_spark(app_name, master="local[1]")


def _proc_children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = task / "children"
        if children.is_file():
            found += [int(c) for c in children.read_text().split()]
    return found


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and every descendant, live or reaped (Linux).

    A Spark job spends CPU in the JVM, its GC and JIT threads and the Python workers, not only in
    the one task thread of `local[1]`: on a shared machine, CPU time is the per-core cost that
    wall time only approximates.
    """
    times = os.times()
    total = times.user + times.system + times.children_user + times.children_system
    tick = os.sysconf("SC_CLK_TCK")
    pending = _proc_children(os.getpid())
    while pending:
        pid = pending.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            pending += _proc_children(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    return total
