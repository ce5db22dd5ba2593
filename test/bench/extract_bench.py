"""Benchmark (not a test): WET extraction throughput of the `extract` job against fastwarc.

    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \\
        .venv/bin/python test/bench/extract_bench.py --size 64 [--file-mb 16] [--real-copies 16]

Generates a mini crawl into a temp dir and joins its clean files into files of about --file-mb MB
(`--file-mb 0` keeps the mini crawl's own files of tens of KB, which measures Spark's cost per
file rather than per byte). Most of the mini crawl's inflated bytes are in a few records of
megabytes, which the job cuts to max_document_chars; `--real-copies K` measures real records
instead: REAL_FILES files, each the real 2020-50 sample in ../shared/data/wet (a warcinfo and 317
conversion records of real pages, as Common Crawl wrote them) K times over. Then it measures on
one core, in the same run:
  - fastwarc (the peer): ArchiveIterator over every WET file in a plain Python loop, conversion
    bodies read and decoded; warcio the same way;
  - the project's reader (spark_jobs.wet) in the same plain loop;
  - the extract job in one long-lived `local[1]` session, as the job server runs it: first on one
    tiny file (the fixed cost of a stage: listing, Python worker, Parquet writes, metrics), then
    twice on all files (the first of them also pays the JIT, once per server); "net" subtracts
    the tiny run from the second. Then --rounds rounds (default 3) of fastwarc, the tiny file
    and all files one after another, whose median ratio sets aside a burst of load on a shared
    machine;
  - the cold start of the job through its own process (a JVM per job, as spark-submit);
  - the ceiling of any extraction job that writes Parquet: fastwarc's loop, each document's
    columns written by pyarrow's C++ writer in the job's batches, with Spark's defaults (snappy,
    dictionaries, statistics) and uncompressed (the least work Parquet allows); no Spark, no
    quality checks, nothing crossing between processes. --rounds rounds, each setting beside a
    fastwarc pass; per setting the median ratio (`ceiling`). A job at 0.8x fastwarc would have
    to do all this and more within 1.25 times fastwarc's time.
Throughput is MB (10^6 bytes) of WET read per second, and documents per second. Each pass also
records the CPU seconds of this process and all its descendants (the JVM with its GC and JIT
threads, the Python workers): on a shared machine the CPU-time ratios are the per-core cost, and
`local[1]` runs one task thread, not one core. Each round also gives the JIT compilers' part of
the tiny and the full run's CPU seconds (`fixed_jit_cpu`, `full_jit_cpu`). Prints JSON.
"""

from __future__ import annotations

import gzip
import io
import json
import statistics
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from bench_common import (
    SHARED_DATA,
    Stopwatch,
    bench_args,
    cold_job,
    generate_mini_crawl,
    round_ratios,
    warm_passes,
)
from fastwarc.warc import ArchiveIterator as FastArchiveIterator
from fastwarc.warc import WarcRecordType
from warcio.archiveiterator import ArchiveIterator

REPO = Path(__file__).resolve().parents[2]
REAL_SAMPLE, REAL_FILES = "CC-MAIN-2020-50-head.warc.wet.gz", 5
SPARK_JOBS = REPO / "spark-jobs"
sys.path.insert(0, str(SPARK_JOBS))

from spark_jobs import extract  # noqa: E402
from spark_jobs.documents import ROWS_PER_BATCH  # noqa: E402
from spark_jobs.spark_session import ensure_java_home  # noqa: E402
from spark_jobs.wet import WetDocuments  # noqa: E402


def fastwarc_pass(files: list[Path]) -> dict:
    docs, chars, failed = 0, 0, 0
    clock = Stopwatch()
    for path in files:
        with open(path, "rb") as stream:
            try:
                for record in FastArchiveIterator(stream, record_types=WarcRecordType.conversion):
                    chars += len(record.reader.read().decode("utf-8", "replace"))
                    docs += 1
            except Exception:  # noqa: BLE001 - like warcio, it stops at damage it cannot skip
                failed += 1
    return clock.figures(docs=docs, files_failed=failed)


# What a job that writes documents does beyond fastwarc's loop, the least of it. Extract writes
# Spark's defaults; "uncompressed" is the least work Parquet allows.
DOCUMENT_COLUMNS = ("doc_id", "dataset", "crawl", "url", "date", "lang", "text")
SHORT_COLUMNS = ["doc_id", "dataset", "crawl", "url", "date", "lang"]
PARQUET_SETTINGS = {
    "spark_defaults": {"compression": "snappy", "use_dictionary": True, "write_statistics": True},
    "uncompressed": {
        "compression": "none",
        "use_dictionary": SHORT_COLUMNS,
        "write_statistics": SHORT_COLUMNS,
    },
}


def fastwarc_parquet_pass(files: list[Path], sink: Path, settings: dict) -> dict:
    """fastwarc's loop, each document's columns (`documents.DOCUMENTS`) kept and written by
    pyarrow's C++ Parquet writer in batches of ROWS_PER_BATCH documents, as extract's tasks
    hand them over: no Spark, no quality checks, nothing crossing between processes."""
    schema = pa.schema([(name, pa.string()) for name in DOCUMENT_COLUMNS])
    columns: dict[str, list] = {name: [] for name in DOCUMENT_COLUMNS}
    docs, failed = 0, 0
    clock = Stopwatch()

    def write_batch(writer: pq.ParquetWriter) -> None:
        arrays = [pa.array(columns[name], pa.string()) for name in SHORT_COLUMNS]
        arrays.append(pa.array(columns["text"], pa.binary()).view(pa.string()))
        writer.write_batch(pa.record_batch(arrays, schema=schema))
        for values in columns.values():
            values.clear()

    with pq.ParquetWriter(sink, schema, **settings) as writer:
        for path in files:
            with open(path, "rb") as stream:
                try:
                    for record in FastArchiveIterator(
                        stream, record_types=WarcRecordType.conversion
                    ):
                        headers, body = record.headers, record.reader.read()
                        body.decode("utf-8", "replace")  # as the peer's loop; a job checks too
                        columns["doc_id"].append(headers.get("WARC-Record-ID"))
                        columns["dataset"].append("common_crawl")
                        columns["crawl"].append(path.name)
                        columns["url"].append(headers.get("WARC-Target-URI"))
                        columns["date"].append(headers.get("WARC-Date"))
                        columns["lang"].append(headers.get("WARC-Identified-Content-Language"))
                        columns["text"].append(body)
                        docs += 1
                        if len(columns["text"]) == ROWS_PER_BATCH:
                            write_batch(writer)
                except Exception:  # noqa: BLE001 - as `fastwarc_pass`: it stops at damage
                    failed += 1
        if columns["text"]:
            write_batch(writer)
    sink.unlink()
    return clock.figures(docs=docs, files_failed=failed)


def ceiling_rounds(files: list[Path], sink: Path, rounds: int) -> dict:
    """`rounds` of fastwarc's plain loop beside `fastwarc_parquet_pass` with each of
    PARQUET_SETTINGS, and per setting the median ratio of the rounds (wall and CPU time)."""
    ratios: dict[str, list[dict]] = {name: [] for name in PARQUET_SETTINGS}
    for _ in range(rounds):
        for name, settings in PARQUET_SETTINGS.items():
            fast, ceiling = fastwarc_pass(files), fastwarc_parquet_pass(files, sink, settings)
            ratios[name].append(
                {
                    "fastwarc_seconds": round(fast["seconds"], 3),
                    "ceiling_seconds": round(ceiling["seconds"], 3),
                    "ratio": round(fast["seconds"] / ceiling["seconds"], 4),
                    "ratio_cpu": round(fast["cpu_seconds"] / ceiling["cpu_seconds"], 4),
                }
            )
    return {
        name: {
            "rounds": found,
            "median_ratio": statistics.median(r["ratio"] for r in found),
            "median_ratio_cpu": statistics.median(r["ratio_cpu"] for r in found),
        }
        for name, found in ratios.items()
    }


def warcio_pass(files: list[Path]) -> dict:
    docs, chars, failed = 0, 0, 0
    clock = Stopwatch()
    for path in files:
        with open(path, "rb") as stream:
            try:
                for record in ArchiveIterator(stream):
                    if record.rec_type == "conversion":
                        chars += len(record.content_stream().read().decode("utf-8", "replace"))
                        docs += 1
            except Exception:  # noqa: BLE001 - warcio stops at the first damage
                failed += 1
    return clock.figures(docs=docs, files_failed=failed)


def reader_pass(files: list[Path]) -> dict:
    docs, problems = 0, 0
    clock = Stopwatch()
    for path in files:
        with open(path, "rb") as stream:
            documents = WetDocuments(stream)
            docs += sum(1 for d in documents if not d.dropped)
            problems += len(documents.reader.problems)
    return clock.figures(docs=docs, problems=problems)


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


def reads_cleanly(data: bytes) -> bool:
    """fastwarc reads every record of `data`, and of `data` twice over: nothing damaged is left
    at its end for the next file's records to run into."""
    counts = []
    for stream in (data, data + data):
        try:
            records = FastArchiveIterator(io.BytesIO(stream), record_types=WarcRecordType.any_type)
            counts.append(sum(1 for _ in records))
        except Exception:  # noqa: BLE001 - damage: leave the file out
            return False
    return counts[1] == 2 * counts[0] > 0


def join_into_real_sized_files(files: list[Path], out: Path, file_mb: int) -> list[Path]:
    """The mini crawl's clean files, concatenated (gzip members back to back, as in a real WET
    file) into files of about `file_mb` MB. Real WET files hold 100-160 MiB; the mini crawl's
    hold tens of KB, where Spark's cost per file (a split, a Python call, an Arrow batch) would
    be measured instead of its cost per byte. Damaged files are left out: fastwarc stops at
    them."""
    out.mkdir(parents=True)
    joined: list[Path] = []
    size = 0
    for path in files:
        data = path.read_bytes()
        if not reads_cleanly(data):
            continue
        if not joined or size >= file_mb * 1_000_000:
            joined.append(out / f"joined-{len(joined):05d}.warc.wet.gz")
            size = 0
        with joined[-1].open("ab") as sink:
            sink.write(data)
        size += len(data)
    return joined


def real_record_files(out: Path, copies: int) -> list[Path]:
    """REAL_FILES files, each the real WET sample `copies` times: its gzip members back to back."""
    sample = SHARED_DATA / "wet" / REAL_SAMPLE
    if not sample.is_file():
        raise SystemExit(f"--real-copies needs {sample} (set CCMIX_SHARED_DATA)")
    out.mkdir(parents=True)
    data = sample.read_bytes() * copies
    files = [out / f"real-{i:02d}.warc.wet.gz" for i in range(REAL_FILES)]
    for path in files:
        path.write_bytes(data)
    return files


def job_figures(passes: dict, fast: dict, mb: float) -> dict:
    fixed, first, full = passes["fixed"], passes["first"], passes["full"]
    docs = full["metrics"]["rows_kept"]
    net = full["seconds"] - fixed["seconds"]
    net_cpu = full["cpu_seconds"] - fixed["cpu_seconds"]
    figures = {
        "warm_stage_fixed_cost_seconds": round(fixed["seconds"], 3),
        "local1_first_full_pass_gross": rate(mb, docs, first["seconds"]),
        "local1_warm_gross": {
            **rate(mb, docs, full["seconds"]),
            "cpu_seconds": round(full["cpu_seconds"], 3),
            "docs": docs,
        },
        "local1_net_of_fixed_cost": rate(mb, docs, net) if net > 0 else None,
        "net_vs_fastwarc_per_core": round(fast["seconds"] / net, 4) if net > 0 else None,
        "net_vs_fastwarc_cpu_seconds": round(fast["cpu_seconds"] / net_cpu, 4)
        if net_cpu > 0
        else None,
        "gross_vs_fastwarc_per_core": round(fast["seconds"] / full["seconds"], 4),
    }
    if passes["rounds"]:
        rounds, wall, cpu = round_ratios(passes["rounds"], digits=4)
        medians = {"median_ratio_net": wall, "median_ratio_net_cpu": cpu}
        figures |= {"rounds_fastwarc_fixed_full": rounds, **medians}
    return figures


def main() -> None:
    args = bench_args(__doc__.splitlines()[0], default_size=4, file_mb=16, rounds=3, real_copies=0)
    ensure_java_home()
    with tempfile.TemporaryDirectory(prefix="extract-bench-") as tmp:
        root = Path(tmp)
        if args.real_copies:
            files = real_record_files(root / "real", args.real_copies)
        else:
            generate_mini_crawl(root / "mc", args)
            files = sorted((root / "mc" / "crawl-data").rglob("*.warc.wet.gz"))
            if args.file_mb:
                files = join_into_real_sized_files(files, root / "joined", args.file_mb)
        mb = sum(p.stat().st_size for p in files) / 1e6
        fast = fastwarc_pass(files)
        warcio = warcio_pass(files)
        reader = reader_pass(files)
        tiny = [f"--input={tiny_wet(root / 'tiny.warc.wet.gz')}"]
        cold = cold_job("extract", tiny, root / "cold")
        full_args = [f"--input={p}" for p in files]
        passes = warm_passes(
            "extract-bench",
            extract,
            tiny,
            full_args,
            root / "warm",
            lambda: fastwarc_pass(files),
            args.rounds,
        )
        ceiling = ceiling_rounds(files, root / "ceiling.parquet", args.rounds)
    job = job_figures(passes, fast, mb)
    report = {
        "wet_files": len(files),
        "records": f"the real sample {args.real_copies} times over"
        if args.real_copies
        else "mini crawl",
        "joined_into_files_of_mb": None if args.real_copies else args.file_mb or None,
        "wet_mb": round(mb, 3),
        "fastwarc_1_core": {**rate(mb, fast["docs"], fast["seconds"]), **fast},
        "warcio_1_core": {**rate(mb, warcio["docs"], warcio["seconds"]), **warcio},
        "wet_reader_1_core": {**rate(mb, reader["docs"], reader["seconds"]), **reader},
        "cold_job_on_tiny_file_seconds": round(cold["seconds"], 3),
        "extract_job": job,
        "ceiling": ceiling,
        "reader_vs_fastwarc_per_core": round(fast["seconds"] / reader["seconds"], 3),
        "reader_vs_fastwarc_cpu_seconds": round(fast["cpu_seconds"] / reader["cpu_seconds"], 3),
        "reader_vs_warcio_per_core": round(warcio["seconds"] / reader["seconds"], 3),
        "fixed_cost_cold_vs_warm": round(cold["seconds"] / job["warm_stage_fixed_cost_seconds"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
