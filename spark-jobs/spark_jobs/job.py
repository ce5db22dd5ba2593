"""The contract every ccmix Spark job follows, so the `runSparkJob` activity can drive any of them.

A job is a module with a `main()` that calls `run_job`. On the command line it takes:

    python -m spark_jobs.<job> --output DIR --metrics FILE --params-json JSON --run-id ID
                               [--input PATH ...] [--master local[2]]

- `--output` is a staging folder chosen by the caller; the caller commits it after exit 0.
- `--metrics` receives one JSON object of fixed shape (see `Metrics`).
- `--params-json` is parsed into the job's frozen params dataclass; unknown keys are an error. The
  resolved params are written to `<output>/_params.json` beside the data.
- A bad input exits 2 with one line on stderr (`BadInput`); anything else is a bug and exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pyspark.sql import SparkSession

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


def write_json(path: str | Path, payload: Any) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")
    tmp.replace(target)


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
) -> int:
    """Parses arguments, runs `body` in a SparkSession that is always stopped, writes metrics."""
    args = (parser or arg_parser(description or name)).parse_args(argv)
    try:
        params = parse_params(params_cls, json.loads(args.params_json))
    except (BadInput, TypeError, json.JSONDecodeError) as error:
        print(f"{name}: bad parameters: {error}", file=sys.stderr)
        return 2
    metrics = Metrics(job=name, run_id=args.run_id, params=dataclasses.asdict(params))
    builder = SparkSession.builder.appName(f"ccmix-{name}-{args.run_id}")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    started = time.monotonic()
    try:
        body(spark, args, params, metrics)
        metrics.check_counts()
    except BadInput as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    metrics.seconds = round(time.monotonic() - started, 3)
    write_json(Path(args.output) / "_params.json", metrics.params)
    write_json(args.metrics, metrics)
    return 0
