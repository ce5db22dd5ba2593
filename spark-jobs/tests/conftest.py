"""Shared fixtures: one local Spark session per test run, the repo root, the shared samples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_jobs.spark_session import local_spark

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
    session = local_spark("ccmix-tests", master="local[2]")
    try:
        yield session
    finally:
        session.stop()
