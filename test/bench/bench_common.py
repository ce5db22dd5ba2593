"""What the Python benchmarks share: their arguments, the miniature crawl they run on, and how a
job is timed (cold in its own process, or warm in one long-lived session like the job server)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPARK_JOBS = REPO / "spark-jobs"
CCMIX = REPO / "bin" / "ccmix.js"
SHARED_DATA = Path(os.environ.get("CCMIX_SHARED_DATA") or REPO.parent / "shared" / "data")
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


class Stopwatch:
    """Wall and CPU seconds (this process and its children) since it was made."""

    def __init__(self) -> None:
        self.cpu, self.started = cpu_seconds(), time.perf_counter()

    def figures(self, **counts: object) -> dict:
        wall = time.perf_counter() - self.started
        return {"seconds": wall, "cpu_seconds": cpu_seconds() - self.cpu, **counts}


def job_argv(work: Path, args: list[str]) -> list[str]:
    return [
        "--run-id",
        "bench",
        "--output",
        str(work / "out"),
        "--metrics",
        str(work / "m.json"),
    ] + args


def cold_job(module: str, args: list[str], work: Path, master: str = "local[1]") -> dict:
    """`spark_jobs.<module>` in its own process, a JVM per job as spark-submit: seconds, metrics."""
    env = {**os.environ, "PYTHONPATH": str(SPARK_JOBS), "PYSPARK_PYTHON": sys.executable}
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    argv = [sys.executable, "-m", f"spark_jobs.{module}", "--master", master, *job_argv(work, args)]
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=SPARK_JOBS, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{module} exited {done.returncode}:\n{done.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "metrics": json.loads((work / "m.json").read_text())}


def job_server_conf(master: str) -> dict[str, str]:
    """The Spark settings the job server starts with (core/spark/conf.ts, from dist/: `npm run
    build`), so that a warm pass runs as a job on the server does."""
    script = (
        "const { launchSettings } = require(process.argv[1]);"
        "const spark = { master: process.argv[2], driverMemory: '4g', conf: {} };"
        "process.stdout.write(JSON.stringify(launchSettings(spark, []).conf));"
    )
    conf_js = str(REPO / "dist" / "core" / "spark" / "conf.js")
    done = subprocess.run(["node", "-e", script, conf_js, master], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cannot read the job server's settings (npm run build?): {done.stderr}")
    return json.loads(done.stdout)


def warm_passes(
    app_name: str,
    job,
    tiny_args: list[str],
    full_args: list[str],
    work: Path,
    peer: Callable[[], object] = lambda: None,
    rounds: int = 0,
) -> dict:
    """A job's `main` timed the job server's way, in one long-lived `local[1]` session with the
    server's settings, whose Python workers import spark_jobs (from PYTHONPATH, as the server's
    do):

      - a warm-up on the tiny input (Python worker, JIT: once per server), not reported;
      - `fixed`: the tiny input again, the fixed cost of a stage;
      - `first`: the full input, which also pays the JIT of the code paths that carry the volume;
      - `full`: the full input again, the figure ("net" = full - fixed).

    Each is Stopwatch figures plus the job's `metrics` and `jit_cpu_seconds` (the part of its CPU
    seconds the JVM's compilers used). With `peer` (a function that runs the baseline in this
    process), `rounds` more rounds follow, each the peer, the tiny input and the full input one
    after another (`passes["rounds"]`: wall seconds, CPU seconds as `*_cpu` and the compilers'
    part of the job's as `*_jit_cpu`): on a shared machine a burst of load then skews one round's
    ratio, which a median of rounds sets aside.
    """
    from spark_jobs.spark_session import local_spark

    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(SPARK_JOBS), os.environ.get("PYTHONPATH")])
    )
    spark = local_spark(app_name, master="local[1]", conf=job_server_conf("local[1]"))
    jvm = spark._jvm.java.lang.ProcessHandle.current().pid()

    def run(args: list[str], name: str) -> dict:
        jit, clock = jit_cpu_seconds(jvm), Stopwatch()
        assert job.main(job_argv(work / name, args), spark=spark) == 0
        metrics = json.loads((work / name / "m.json").read_text())
        return clock.figures(metrics=metrics, jit_cpu_seconds=jit_cpu_seconds(jvm) - jit)

    try:
        run(tiny_args, "warm-up")
        passes = {"fixed": run(tiny_args, "tiny")}
        passes["first"] = run(full_args, "first")
        passes["full"] = run(full_args, "full")
        passes["rounds"] = []
        for n in range(rounds):
            clock = Stopwatch()
            peer()
            timed = {"peer": clock.figures()}
            timed["fixed"] = run(tiny_args, f"tiny-{n}")
            timed["full"] = run(full_args, f"full-{n}")
            wall = {k: f["seconds"] for k, f in timed.items()}
            cpu = {f"{k}_cpu": f["cpu_seconds"] for k, f in timed.items()}
            jit = {f"{k}_jit_cpu": timed[k]["jit_cpu_seconds"] for k in ("fixed", "full")}
            passes["rounds"].append(wall | cpu | jit)
    finally:
        spark.stop()
    return passes


def round_ratios(rounds: list[dict], digits: int) -> tuple[list[dict], float | None, float | None]:
    """`warm_passes`' rounds, each with its net ratio to the peer (peer / (full - fixed)) on wall
    time (`ratio_net`) and CPU time (`ratio_net_cpu`), and the two medians (None without rounds)."""
    ratios = [
        {
            **{k: round(v, 3) for k, v in r.items()},
            "ratio_net": round(r["peer"] / (r["full"] - r["fixed"]), digits),
            "ratio_net_cpu": round(r["peer_cpu"] / (r["full_cpu"] - r["fixed_cpu"]), digits),
        }
        for r in rounds
    ]
    if not ratios:
        return ratios, None, None
    wall = statistics.median(r["ratio_net"] for r in ratios)
    cpu = statistics.median(r["ratio_net_cpu"] for r in ratios)
    return ratios, round(wall, digits), round(cpu, digits)


def jit_cpu_seconds(jvm: int) -> float:
    """CPU seconds used so far by the JIT compiler threads (C1, C2) of the JVM `jvm` (Linux).

    A warm job server still compiles in every pass: the long tail of Spark's own methods reaching
    the compilers' thresholds, pass after pass. This shows how much of a job's CPU time it is.
    HotSpot stops idle compiler threads and starts new ones; one that ended between two readings
    is not counted, so a difference is a lower bound.
    """
    total = 0
    for task in Path(f"/proc/{jvm}/task").glob("*"):
        stat = _proc_stat(task / "stat")
        if stat and stat[0].startswith(("C1 Compiler", "C2 Compiler")):
            total += int(stat[1][11]) + int(stat[1][12])  # utime stime
    return total / os.sysconf("SC_CLK_TCK")


def _proc_stat(path: Path) -> tuple[str, list[str]] | None:
    """A /proc stat file's command name and the fields after it (the name may hold spaces and
    parentheses), or None once the process or thread has ended."""
    try:
        head, _, rest = path.read_text().rpartition(")")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return head.partition("(")[2], rest.split()


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
        stat = _proc_stat(Path(f"/proc/{pid}/stat"))
        if stat is None:
            continue
        total += sum(int(f) for f in stat[1][11:15]) / tick  # utime stime cutime cstime
        try:
            pending += _proc_children(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total
