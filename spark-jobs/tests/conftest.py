"""Shared fixtures: one local Spark session per test run, the repo root, the shared samples."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_jobs.spark_session import CCMIX_JAR, local_spark

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`<repo>/../shared/data` (or $CCMIX_SHARED_DATA); skips, saying why, when it is absent."""
    path = Path(os.environ.get("CCMIX_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")
    if not path.is_dir():
        pytest.skip(f"shared sample data not found at {path} (set CCMIX_SHARED_DATA)")
    return path


#: Where infra/setup.sh installs hadoop-aws and the AWS SDK bundle (core/spark/conf.ts's too).
S3A_JARS = REPO_ROOT / ".ccmix" / "spark-jars"


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    # S3A on the class path as the job server has it, for the tests that write to an S3 emulator.
    jars = [str(CCMIX_JAR)] + ([f"{S3A_JARS}/*"] if S3A_JARS.is_dir() else [])
    session = local_spark(
        "ccmix-tests", master="local[2]", conf={"spark.driver.extraClassPath": ":".join(jars)}
    )
    try:
        yield session
    finally:
        session.stop()


MiniCrawl = Callable[[Path, int, int, list[str]], dict]


@pytest.fixture(scope="session")
def make_mini_crawl() -> MiniCrawl:
    """`ccmix mini-crawl --out DIR --size N --seed S --crawls …`; returns its summary.

    The CLI is part of the build that `npm run setup` makes; it is rebuilt here if missing.
    """
    if not (REPO_ROOT / "dist" / "cli" / "main.js").exists():
        subprocess.run(["npx", "tsc", "-p", "tsconfig.json"], cwd=REPO_ROOT, check=True)

    def generate(out: Path, size: int, seed: int, crawls: list[str]) -> dict:
        command = ["node", str(REPO_ROOT / "bin" / "ccmix.js"), "mini-crawl", "--out", str(out)]
        command += ["--size", str(size), "--seed", str(seed), "--crawls", ",".join(crawls)]
        result = subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True, text=True)
        return json.loads(result.stdout)

    return generate
