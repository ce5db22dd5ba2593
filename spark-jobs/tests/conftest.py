"""Shared fixtures: one local Spark session per test run, the repo root, the shared samples."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_jobs.spark_session import S3A_JARS_DIR, local_spark

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


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    # S3A on the class path as the job server has it, for the tests that write to an S3 emulator.
    s3a = [f"{S3A_JARS_DIR}/*"] if S3A_JARS_DIR.is_dir() else []
    session = local_spark("ccmix-tests", master="local[2]", class_path=s3a)
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """A loopback port that was free a moment ago (another process may take it before use)."""

    def pick() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    return pick


Ccmix = Callable[..., str]
MiniCrawl = Callable[[Path, int, int, list[str]], dict]
JobCli = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="session")
def job_cli() -> JobCli:
    """Runs `python -m spark_jobs.<job> ARGS…` in a process of its own, which starts its own JVM
    (`without`: environment variables it does not inherit); returns the finished process."""

    def run(job: str, *args: str, without: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in without}
        env["PYTHONPATH"] = str(REPO_ROOT / "spark-jobs")
        command = [sys.executable, "-m", f"spark_jobs.{job}", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True)

    return run


@pytest.fixture(scope="session")
def ccmix() -> Ccmix:
    """Runs `ccmix ARGS…` and returns its stdout; a non-zero exit fails the test.

    The CLI is part of the build that `npm run setup` makes; it is rebuilt here if missing.
    """
    if not (REPO_ROOT / "dist" / "cli" / "main.js").exists():
        subprocess.run(["npx", "tsc", "-p", "tsconfig.json"], cwd=REPO_ROOT, check=True)

    def run(*args: str) -> str:
        command = ["node", str(REPO_ROOT / "bin" / "ccmix.js"), *args]
        return subprocess.run(
            command, cwd=REPO_ROOT, check=True, capture_output=True, text=True
        ).stdout

    return run


@pytest.fixture(scope="session")
def make_mini_crawl(ccmix: Ccmix) -> MiniCrawl:
    """`ccmix mini-crawl --out DIR --size N --seed S --crawls …`; returns its summary."""

    def generate(out: Path, size: int, seed: int, crawls: list[str]) -> dict:
        args = ["mini-crawl", "--out", str(out), "--size", str(size), "--seed", str(seed)]
        return json.loads(ccmix(*args, "--crawls", ",".join(crawls)))

    return generate
