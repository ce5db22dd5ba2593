"""Paths through Hadoop's FileSystem, from the driver: local folders and `s3a://` alike.

Executors never open a path themselves: data files are read by Spark's own sources
(`binaryFile`, `parquet`, `text`), which go through the same FileSystem. The driver uses this
module for what is small: listings, markers, params and metrics files. S3 credentials come from
the environment or the AWS credential chain that S3A reads; they never appear in a path or a
parameter.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession

HIDDEN_PREFIXES = ("_", ".")


@dataclass(frozen=True)
class FileEntry:
    path: str  # fully qualified (file:/…, s3a://…)
    size: int


def qualify(path: str) -> str:
    """A plain local path becomes `file:/…`; a URI stays as it is; `s3://` becomes `s3a://`."""
    if path.startswith("s3://"):
        return "s3a://" + path[len("s3://") :]
    if re.match(r"^[a-z][a-z0-9+.-]*:", path):
        return path
    return "file:" + posixpath.abspath(path)


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def _fs(spark: SparkSession, path: str):
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(qualify(path))
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    return hadoop_path.getFileSystem(conf), hadoop_path


def exists(spark: SparkSession, path: str) -> bool:
    fs, hadoop_path = _fs(spark, path)
    return bool(fs.exists(hadoop_path))


def is_file(spark: SparkSession, path: str) -> bool:
    fs, hadoop_path = _fs(spark, path)
    return bool(fs.exists(hadoop_path) and fs.getFileStatus(hadoop_path).isFile())


def list_files(
    spark: SparkSession, roots: Iterable[str], suffixes: Sequence[str]
) -> list[tuple[FileEntry, str]]:
    """Every file under `roots` (recursively) ending in a suffix, with its path relative to its
    root; names starting with `_` or `.` are skipped, like Spark's own sources skip them.

    A root may itself be a file. Sorted by path; a missing root raises FileNotFoundError.
    # bounded: one small entry per input file (a crawl has at most ~100k WET files).
    """
    found: dict[str, tuple[FileEntry, str]] = {}
    for root in roots:
        fs, hadoop_path = _fs(spark, root)
        if not fs.exists(hadoop_path):
            raise FileNotFoundError(root)
        status = fs.getFileStatus(hadoop_path)
        base = str(status.getPath().toString())
        if status.isFile():
            entry = FileEntry(base, int(status.getLen()))
            found[base] = (entry, posixpath.basename(base))
            continue
        files = fs.listFiles(hadoop_path, True)
        while files.hasNext():
            item = files.next()
            full = str(item.getPath().toString())
            relative = full[len(base) :].lstrip("/")
            if any(part.startswith(HIDDEN_PREFIXES) for part in relative.split("/")):
                continue
            if relative.endswith(tuple(suffixes)):
                found[full] = (FileEntry(full, int(item.getLen())), relative)
    return [found[key] for key in sorted(found)]


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Writes a small file whole (no `.crc` side file on the local filesystem)."""
    fs, hadoop_path = _fs(spark, path)
    if hasattr(fs, "setWriteChecksum"):
        fs.setWriteChecksum(False)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
