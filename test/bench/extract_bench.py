"""Benchmark (not a test): WET extraction throughput of the `extract` job against warcio.

    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \\
        .venv/bin/python test/bench/extract_bench.py --size 4

Generates a mini crawl into a temp dir, then measures on one core, in the same run:
  - warcio: ArchiveIterator over every WET file in a plain Python loop (conversion bodies read
    and decoded; a broken file ends at its first error, as warcio cannot resynchronise);
  - the project's reader (spark_jobs.wet) in the same plain loop;
  - the extract job with `--master local[1]` on all files, and on one tiny file (the fixed Spark
    start-up cost: JVM, session, Python worker, Parquet writes). Jobs run as subprocesses.
Throughput is MB (10^6 bytes) of WET read per second, and documents per second; the job's net
figure subtracts the tiny-file run. Prints one JSON object.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import bench_args, generate_mini_crawl
from warcio.archiveiterator import ArchiveIterator

REPO = Path(__file__).resolve().parents[2]
SPARK_JOBS = REPO / "spark-jobs"
sys.path.insert(0, str(SPARK_JOBS))

from spark_jobs.spark_session import ensure_java_home  # noqa: E402
from spark_jobs.wet import WetDocuments  # noqa: E402


def warcio_pass(files: list[Path]) -> dict:
    docs, chars, failed = 0, 0, 0
    started = time.perf_counter()
    for path in files:
        with open(path, "rb") as stream:
            try:
                for record in ArchiveIterator(stream):
                    if record.rec_type == "conversion":
                        chars += len(record.content_stream().read().decode("utf-8", "replace"))
                        docs += 1
            except Exception:  # noqa: BLE001 - warcio stops at the first damage
                failed += 1
    return {"seconds": time.perf_counter() - started, "docs": docs, "files_failed": failed}


def reader_pass(files: list[Path]) -> dict:
    docs, problems = 0, 0
    started = time.perf_counter()
    for path in files:
        with open(path, "rb") as stream:
            documents = WetDocuments(stream)
            docs += sum(1 for d in documents if not d.dropped)
            problems += len(documents.reader.problems)
    return {"seconds": time.perf_counter() - started, "docs": docs, "problems": problems}


def job_pass(inputs: list[Path], work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SPARK_JOBS), "PYSPARK_PYTHON": sys.executable}
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    argv = [sys.executable, "-m", "spark_jobs.extract", "--master", "local[1]", "--run-id", "bench"]
    argv += ["--output", str(work / "out"), "--metrics", str(work / "metrics.json")]
    argv += [f"--input={p}" for p in inputs]
    started = time.perf_counter()
    subprocess.run(argv, cwd=SPARK_JOBS, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    metrics = json.loads((work / "metrics.json").read_text())
    return {"seconds": seconds, "job_seconds": metrics["seconds"], "docs": metrics["rows_kept"]}


def tiny_wet(path: Path) -> Path:
    record = (
        b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Record-ID: <urn:uuid:tiny>\r\n"
        b"Content-Length: 5\r\n\r\nhello\r\n\r\n"
    )
    path.write_bytes(gzip.compress(record, mtime=0))
    return path


def rate(mb: float, docs: int, seconds: float) -> dict:
    return {
        "seconds": round(seconds, 3),
        "mb_per_s": round(mb / seconds, 3),
        "docs_per_s": round(docs / seconds, 1),
    }


def main() -> None:
    args = bench_args(__doc__.splitlines()[0], default_size=4)
    ensure_java_home()
    with tempfile.TemporaryDirectory(prefix="extract-bench-") as tmp:
        root = Path(tmp)
        generate_mini_crawl(root / "mc", args)
        files = sorted((root / "mc" / "crawl-data").rglob("*.warc.wet.gz"))
        mb = sum(p.stat().st_size for p in files) / 1e6
        warcio = warcio_pass(files)
        reader = reader_pass(files)
        (root / "tiny").mkdir()
        startup = job_pass([tiny_wet(root / "tiny" / "tiny.warc.wet.gz")], root / "tiny")
        (root / "full").mkdir()
        full = job_pass([root / "mc" / "crawl-data"], root / "full")
    net = full["seconds"] - startup["seconds"]
    report = {
        "wet_files": len(files),
        "wet_mb": round(mb, 3),
        "warcio_1_core": {**rate(mb, warcio["docs"], warcio["seconds"]), **warcio},
        "wet_reader_1_core": {**rate(mb, reader["docs"], reader["seconds"]), **reader},
        "spark_startup_seconds": round(startup["seconds"], 3),
        "extract_job_local1_gross": {**rate(mb, full["docs"], full["seconds"]), **full},
        "extract_job_local1_net_of_startup": rate(mb, full["docs"], net) if net > 0 else None,
    }
    if net > 0:
        report["job_net_vs_warcio_per_core"] = round(warcio["seconds"] / net, 4)
    report["job_gross_vs_warcio_per_core"] = round(warcio["seconds"] / full["seconds"], 4)
    report["reader_vs_warcio_per_core"] = round(warcio["seconds"] / reader["seconds"], 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
