"""The contract every ccmix Spark job follows, so the `runSparkJob` activity can drive any of them.

A job is a module with a `main()` that calls `run_job`. On the command line it takes:

    python -m spark_jobs.<job> --output DIR --metrics FILE --params-json JSON --run-id ID
                               [--input PATH ...] [--master local[2]]

- `--output` is a staging folder chosen by the caller, one per attempt; the caller commits it
  after exit 0. Paths may be local or `s3a://`: every path goes through Hadoop's FileSystem.
- `--metrics` receives one JSON object of fixed shape (see `Metrics`).
- `--params-json` is parsed into the job's frozen params dataclass; unknown keys are an error. The
  resolved params are written to `<output>/_params.json` beside the data.
- A bad input exits 2 with one line on stderr (`BadInput`); anything else is a bug and exits 1.
- The same `run_job` runs a job inside a long-lived driver (`spark_jobs.server`), which passes
  its SparkSession in; a job never assumes it owns the JVM.

Rules that keep a job alive at 45 TB (260,000 WET files; see DESIGN.md "Spark jobs at 45 TB"):

1. No single-task step over the data: never shrink the data to one partition, sort it globally
   into one file, or use a window without a partition key.
2. No `collect()` of data. Only small metrics and file lists reach the driver, and every such
   line carries a `# bounded: …` comment saying why its size is bounded.
3. Cache only what is reused, and sample before caching (training needs a bounded sample, not
   the corpus); a cached sample that is iterated over is partitioned by its size, not by the
   input's file count (`train_classifier.training_partitions`). Write several outputs of one
   computation in one pass (`partitionBy`), not by persisting the corpus. Metrics over the text
   (lengths, digests) are observed during that write (`DataFrame.observe`); counts are read
   back from the output's small columns. Every other action over an uncached result re-runs
   its whole computation (Python included).
4. Data crosses between Python and the JVM in Arrow batches (`mapInArrow`), never row by row.
5. Paths go through Hadoop's FileSystem (`spark_jobs.fs`, Spark's sources), never `open()` on
   an executor, so `s3a://` works wherever a local path does. Files a Python task makes whole
   (the mixture's Parquet) reach it through `spark_jobs.blob_files`.
6. Determinism: randomness only from `spark_jobs.seeded` (seed + stable ids); output content
   never depends on partition layout, timing or the run id.
7. The metrics' counts add up (`Metrics.check_counts`); every dropped row has a reason.
8. A query generates the same code in every run, so a long-lived driver compiles it once:
   higher-order functions (`transform`, `filter`, `aggregate`, ...) are SQL text with named
   lambdas (`F.expr`), not Python lambdas, whose variables PySpark names afresh in every query.
   A function a lambda needs that SQL lacks is one of ccmix's Java classes (`MinHashValue`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyspark import InheritableThread
from pyspark.sql import SparkSession

from spark_jobs import fs
from spark_jobs.spark_session import own_jvm_conf

P = TypeVar("P")


class BadInput(Exception):
    """An input the job cannot use; the message is the one line the operator sees."""


@dataclass
class Distribution:
    """count, mean, min, max and a fixed-bucket histogram of one quantity."""

    count: int = 0
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    histogram: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Metrics:
    """The fixed shape of every job's metrics JSON. Counts must add up: in = kept + dropped."""

    job: str
    run_id: str
    params: dict[str, Any]
    rows_in: int = 0
    rows_kept: int = 0
    rows_dropped: int = 0
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    distributions: dict[str, Distribution] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # An order-free digest of the output's content: downstream fingerprints use it, so a re-run
    # that writes the same rows (in any file layout) leaves every later stage committed.
    output_digest: str | None = None
    seconds: float = 0.0

    def check_counts(self) -> None:
        if self.rows_in != self.rows_kept + self.rows_dropped:
            raise RuntimeError(
                f"{self.job}: counts do not add up: in {self.rows_in} != kept {self.rows_kept}"
                f" + dropped {self.rows_dropped}"
            )
        if sum(self.dropped_by_reason.values()) != self.rows_dropped:
            raise RuntimeError(
                f"{self.job}: dropped {self.rows_dropped} but reasons sum to"
                f" {sum(self.dropped_by_reason.values())}"
            )


def parse_params(cls: type[P], raw: Mapping[str, Any]) -> P:
    """Builds the frozen params dataclass, naming every unknown key."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        known = ", ".join(sorted(names))
        raise BadInput(f"unknown parameter(s): {', '.join(unknown)}; known: {known}")
    return cls(**raw)


def arg_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--input", action="append", default=[], help="input path (repeatable)")
    parser.add_argument("--output", required=True, help="staging output folder")
    parser.add_argument("--metrics", required=True, help="metrics JSON file to write")
    parser.add_argument("--params-json", default="{}", help="job parameters as one JSON object")
    parser.add_argument("--run-id", required=True, help="names the run in metrics and logs")
    parser.add_argument(
        "--master", default=None, help="Spark master when not run through spark-submit"
    )
    return parser


def side_by_side(spark: SparkSession, actions: Sequence[Callable[[], None]]) -> None:
    """Runs independent Spark actions (writes) at once and returns when all have ended.

    Each runs in a thread that inherits the caller's job group, so the job server's progress
    and cancel still see its Spark jobs. Small outputs written one after the other leave the
    cores idle while the driver plans the next one. Raises the first failure, by time.
    """
    failures: list[tuple[float, BaseException]] = []

    def attempt(action: Callable[[], None]) -> None:
        try:
            action()
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failures.append((time.monotonic(), error))

    threads = [InheritableThread(target=attempt, args=(a,), session=spark) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise min(failures, key=lambda f: f[0])[1]


def to_json(payload: Any) -> str:
    return json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def run_job(
    name: str,
    params_cls: type[P],
    body: Callable[[SparkSession, argparse.Namespace, P, Metrics], None],
    argv: Sequence[str] | None = None,
    description: str = "",
    parser: argparse.ArgumentParser | None = None,
    spark: SparkSession | None = None,
    on_error: Callable[[str], None] | None = None,
) -> int:
    """Parses arguments, runs `body`, writes params and metrics; returns the exit code.

    Without `spark` the job owns a new session and always stops it; with one (the job server's),
    it runs in a child session of it (own SQL conf, shared JVM) and leaves the JVM running.
    """
    report = on_error or (lambda line: print(line, file=sys.stderr))
    args = (parser or arg_parser(description or name)).parse_args(argv)
    try:
        params = parse_params(params_cls, json.loads(args.params_json))
    except (BadInput, TypeError, json.JSONDecodeError) as error:
        report(f"{name}: bad parameters: {error}")
        return 2
    metrics = Metrics(job=name, run_id=args.run_id, params=dataclasses.asdict(params))
    owned = spark is None
    if spark is None:
        builder = SparkSession.builder.appName(f"ccmix-{name}-{args.run_id}")
        if "PYSPARK_GATEWAY_PORT" not in os.environ:  # this process starts the JVM
            for key, value in own_jvm_conf().items():
                builder = builder.config(key, value)
        if args.master:
            builder = builder.master(args.master)
        session = builder.getOrCreate()
    else:
        session = spark.newSession()
    started = time.monotonic()
    try:
        body(session, args, params, metrics)
        metrics.check_counts()
        metrics.seconds = round(time.monotonic() - started, 3)
        fs.write_text(session, fs.join(args.output, "_params.json"), to_json(metrics.params))
        fs.write_text(session, args.metrics, to_json(metrics))
    except BadInput as error:
        report(f"{name}: {error}")
        return 2
    finally:
        if owned:
            session.stop()
    return 0
