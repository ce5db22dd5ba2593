"""A local SparkSession with the settings every ccmix job and test shares.

pyspark 4.3.0 needs Java 17+. If JAVA_HOME is unset or points at an unusable JDK, the helper picks
one: the machine's OpenJDK 17 first, then any other JDK under /usr/lib/jvm in the supported range.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from py4j.java_gateway import JavaClass
from pyspark.sql import SparkSession

#: ccmix's Java classes (infra/spark/java), built by infra/setup.sh: see spark_jobs/blob_files.py
#: and quality_filter.score_col.
CCMIX_JAR = Path(__file__).resolve().parents[2] / ".ccmix" / "ccmix-spark.jar"
#: Where infra/setup.sh installs hadoop-aws and the AWS SDK bundle (as core/spark/conf.ts knows).
S3A_JARS_DIR = CCMIX_JAR.parent / "spark-jars"

# Majors this pinned Spark has been run on here (see spark-jobs/tests/test_spark_smoke.py).
MIN_JAVA, MAX_JAVA = 17, 25
PREFERRED_JAVA_HOMES = ("/usr/lib/jvm/java-17-openjdk-amd64",)
JVM_DIR = Path("/usr/lib/jvm")


def java_major(java_home: str | os.PathLike[str]) -> int | None:
    """The major version of the JDK at `java_home`, or None if there is no working java there."""
    home = Path(java_home)
    release = home / "release"
    text = release.read_text(errors="replace") if release.is_file() else ""
    match = re.search(r'JAVA_VERSION="(\d+)(?:\.(\d+))?', text)
    if not match:
        java = home / "bin" / "java"
        if not java.is_file():
            return None
        try:
            proc = subprocess.run(
                [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr)
        if not match:
            return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8" -> 8


def _usable(java_home: str | os.PathLike[str]) -> bool:
    major = java_major(java_home)
    return (Path(java_home) / "bin" / "java").is_file() and (
        major is not None and MIN_JAVA <= major <= MAX_JAVA
    )


def ensure_java_home() -> str:
    """Keeps a usable JAVA_HOME, else sets one; raises naming what was found if none fits."""
    current = os.environ.get("JAVA_HOME")
    if current and _usable(current):
        return current
    others = sorted(str(p) for p in JVM_DIR.glob("*") if p.is_dir()) if JVM_DIR.is_dir() else []
    for candidate in (*PREFERRED_JAVA_HOMES, *others):
        if Path(candidate).is_dir() and _usable(candidate):
            os.environ["JAVA_HOME"] = candidate
            return candidate
    found = {c: java_major(c) for c in ([current] if current else []) + others}
    raise RuntimeError(
        f"no JDK with Java {MIN_JAVA}..{MAX_JAVA} for Spark; JAVA_HOME={current!r}, found {found}"
    )


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def own_jvm_conf(class_path: Sequence[str] = ()) -> dict[str, str]:
    """For a JVM this process starts (spark-submit sets its own): Python workers with this
    interpreter (the venv with tiktoken), not whatever is on PATH; and the driver's class path,
    ccmix's jar where setup built it, then `class_path`'s entries."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    jars = ([str(CCMIX_JAR)] if CCMIX_JAR.is_file() else []) + list(class_path)
    return {"spark.driver.extraClassPath": ":".join(jars)} if jars else {}


def ccmix_class(spark: SparkSession, name: str) -> JavaClass:
    """ccmix's Java class `ccmix.spark.<name>`, or an error that says how to build it."""
    found = getattr(spark._jvm.ccmix.spark, name)
    if not isinstance(found, JavaClass):
        missing = f"ccmix.spark.{name} is not on Spark's class path ({CCMIX_JAR})"
        raise RuntimeError(f"{missing}: run `npm run setup`")
    return found


def local_spark(
    app_name: str,
    master: str = "local[2]",
    conf: Mapping[str, str] | None = None,
    *,
    ui: bool = False,
    shuffle_partitions: int = 4,
    class_path: Sequence[str] = (),
) -> SparkSession:
    """A SparkSession on this machine: loopback only, UTC, few shuffle partitions, no UI, no
    DataFrame debugging, and ccmix's jar on the class path where setup built it, then
    `class_path`'s entries.

    The caller owns the session and stops it in a `finally`.
    """
    ensure_java_home()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    settings = {
        "spark.ui.enabled": str(ui).lower(),
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        # As the job server runs (core/spark/conf.ts says why): fewer round trips to the JVM, and
        # room for every class a job generates, so a second run of it compiles none.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        "spark.sql.codegen.cache.maxEntries": "1000",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        # Arrow-optimised Python UDFs need pyarrow; without it Spark warns and falls back anyway.
        "spark.sql.execution.pythonUDF.arrow.enabled": str(_has("pyarrow")).lower(),
        **own_jvm_conf(class_path),
        **(conf or {}),
    }
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
