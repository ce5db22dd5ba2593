"""`ccmix.spark.BlobFiles` on S3, through S3A against moto's server on loopback (the S3 emulator of
`ccmix services`): a file is one upload to its final key, and a task that fails in the middle of
a file leaves no object behind, because its upload is aborted, never completed. On a local disk,
where a stream cannot be aborted, an attempt writes a hidden file of its own and renames it when
complete."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from spark_jobs import blob_files
from spark_jobs.server import set_bucket_settings
from spark_jobs.spark_session import S3A_JARS_DIR

BUCKET = "blob-files-test"
PART = b"x" * (6 << 20)  # a first part of 5 MiB (`multipart.size` below) uploads before the rest


@pytest.fixture(scope="module")
def s3(spark: SparkSession, ccmix, free_port, tmp_path_factory) -> Iterator:
    """The S3 emulator as `ccmix services up --only s3` runs it, a bucket there that the
    session's S3A reaches (per-bucket settings, as the job server sets them), and a boto3 client
    to look inside it."""
    if not any(S3A_JARS_DIR.glob("hadoop-aws-*.jar")):
        pytest.skip(f"no S3A jars in {S3A_JARS_DIR}: run `npm run setup`")
    boto3 = pytest.importorskip("boto3")
    state = str(tmp_path_factory.mktemp("services"))
    # The test command runs this suite beside the TypeScript one, whose services take free ports
    # too: a port taken between the pick and the bind is picked again.
    for attempt in range(3):
        port = free_port()
        try:
            ccmix("services", "up", "--only", "s3", "--s3-port", str(port), "--state-dir", state)
            break
        except subprocess.CalledProcessError:
            ccmix("services", "down", "--state-dir", state)
            if attempt == 2:
                raise
    endpoint = f"http://127.0.0.1:{port}"
    try:
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
        client.create_bucket(Bucket=BUCKET)
        settings = {
            "endpoint": endpoint,
            "endpoint.region": "us-east-1",
            "path.style.access": "true",
            "connection.ssl.enabled": "false",
            "access.key": "testing",
            "secret.key": "testing",
            "multipart.size": "5M",  # S3A's least: a file of PART is a multipart upload
        }
        set_bucket_settings(spark, {f"fs.s3a.bucket.{BUCKET}.{k}": v for k, v in settings.items()})
        yield client
    finally:
        ccmix("services", "down", "--state-dir", state)


def chunks_then(spark: SparkSession, name: str, fail: bool):
    """One partition: `name`'s first chunk, then either its second chunk or a failure of the task
    (raised by the Python worker after the JVM has begun writing the file)."""

    def emit(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for _ in batches:
            pass
        yield pa.RecordBatch.from_pylist([{"name": name, "chunk": PART}])
        if fail:
            raise RuntimeError("the task fails in the middle of its file")
        yield pa.RecordBatch.from_pylist([{"name": name, "chunk": b"end"}])

    one = spark.range(1).coalesce(1)
    return one.mapInArrow(emit, "name string, chunk binary")


def objects(client) -> dict[str, int]:
    listing = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: o["Size"] for o in listing}


def test_a_file_is_one_object_under_its_final_name(spark: SparkSession, s3) -> None:
    blob_files.write(chunks_then(spark, "whole.bin", fail=False), f"s3a://{BUCKET}/out")
    assert objects(s3) == {"out/whole.bin": len(PART) + 3}
    body = s3.get_object(Bucket=BUCKET, Key="out/whole.bin")["Body"].read()
    assert body[-3:] == b"end" and body[:3] == b"xxx"


def test_a_task_failing_mid_file_leaves_no_object(spark: SparkSession, s3) -> None:
    with pytest.raises(Exception, match="the task fails in the middle of its file"):
        blob_files.write(chunks_then(spark, "broken.bin", fail=True), f"s3a://{BUCKET}/failed")
    assert not any(key.startswith("failed/") for key in objects(s3))
    # Nor an unfinished multipart upload holding the first part.
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_on_a_local_disk_a_failed_attempt_leaves_no_part_and_cuts_no_completed_file(
    spark: SparkSession, tmp_path
) -> None:
    # Before: the attempt wrote at the final name, so a task failing (or a speculative copy
    # killed) mid-file left its part there, over the file another attempt had completed.
    out = tmp_path / "out"
    blob_files.write(chunks_then(spark, "f.bin", fail=False), str(out))
    complete = (out / "f.bin").read_bytes()
    assert len(complete) == len(PART) + 3
    with pytest.raises(Exception, match="the task fails in the middle of its file"):
        blob_files.write(chunks_then(spark, "f.bin", fail=True), str(out))
    assert [p.name for p in out.iterdir()] == ["f.bin"], "no hidden part left either"
    assert (out / "f.bin").read_bytes() == complete
    with pytest.raises(Exception, match="the task fails in the middle of its file"):
        blob_files.write(chunks_then(spark, "g.bin", fail=True), str(tmp_path / "first"))
    assert list((tmp_path / "first").iterdir()) == []
