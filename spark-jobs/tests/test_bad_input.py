"""Bad WET input: each case has one stated outcome, and every record taken in is counted.

The reader cases run without Spark; one extract run covers what only the job shows: lost records
in rows_in and dropped_by_reason, salvage of a quarantined file, and flagged documents by id.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_jobs import extract, ingest_reference
from spark_jobs.documents import make_doc_id

WARCINFO_BODY = b"isPartOf: CC-MAIN-2019-04\r\npublisher: test\r\n"


def record(
    kind: str, body: bytes, n: int, length: int | None = None, names: tuple[str, str] | None = None
) -> bytes:
    """One WARC record; `names` replaces the spelling of WARC-Type and Content-Length."""
    type_name, length_name = names or ("WARC-Type", "Content-Length")
    head = (
        f"WARC/1.0\r\n{type_name}: {kind}\r\nWARC-Target-URI: http://example.com/{n}\r\n"
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\n"
        f"{length_name}: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode() + body + b"\r\n\r\n"


def gz(*records: bytes) -> bytes:
    """One gzip member per record, Common Crawl's layout."""
    return b"".join(gzip.compress(r, compresslevel=1, mtime=0) for r in records)


def page(n: int) -> bytes:
    return record("conversion", f"page {n} has some words\n".encode() * 4, n)


def read(data: bytes, max_chars: int = 100_000):
    # Imported here so that the module's Spark-free tests do not wait on a Spark session.
    from spark_jobs.wet import WetDocuments

    documents = WetDocuments(io.BytesIO(data), max_chars=max_chars, chunk_size=1 << 16)
    return list(documents), documents


def numbers(docs) -> list[int]:
    return [int(d.record_id[-13:-1]) for d in docs]


@pytest.mark.parametrize("plain", [False, True], ids=["gzip", "plain"])
@pytest.mark.parametrize("delta", [-5, 9], ids=["too_short", "too_long"])
def test_wrong_content_length_loses_that_record_only(plain: bool, delta: int) -> None:
    body = b"the body of record two, which declares the wrong length"
    bad = record("conversion", body, 2, length=len(body) + delta)
    records = [record("warcinfo", WARCINFO_BODY, 0), page(1), bad, page(3)]
    docs, documents = read(b"".join(records) if plain else gz(*records))
    assert numbers(docs) == [1, 3]
    assert documents.counts["bad_content_length"] == 1
    assert [p.reason for p in documents.reader.problems] == ["bad_content_length"]


def test_header_names_in_another_case() -> None:
    odd = record("conversion", b"lower-case names", 2, names=("WARC-TYPE", "content-length"))
    docs, documents = read(gz(page(1), odd))
    assert numbers(docs) == [1, 2] and docs[1].text == "lower-case names"
    assert documents.reader.problems == []


def test_not_gzip_and_not_warc_loses_no_record() -> None:
    html = b"<html><body>503 Service Unavailable</body></html>\n" * 4
    docs, documents = read(html)
    assert docs == [] and documents.counts["records"] == 0
    assert [(p.reason, p.detail) for p in documents.reader.problems] == [
        ("not_warc", f"{len(html)} bytes before the first WARC record")
    ]
    # A plain WET file after junk is still read from its first record on.
    docs, documents = read(b"junk\r\n" + page(1) + page(2))
    assert numbers(docs) == [1, 2]
    assert [p.reason for p in documents.reader.problems] == ["not_warc"]


def test_gzip_of_garbage_is_one_malformed_record() -> None:
    docs, documents = read(gzip.compress(b"\x00\x01 not a WARC record at all" * 50))
    assert docs == []
    assert [p.reason for p in documents.reader.problems] == ["malformed_header"]


def test_invalid_utf8_is_replaced_kept_and_flagged() -> None:
    bad = record("conversion", b"caf\xe9 and \xff\xfe end", 2)
    docs, _ = read(gz(page(1), bad))
    assert docs[0].flags == ()
    assert docs[1].dropped is None
    assert docs[1].text == "caf\ufffd and \ufffd\ufffd end"
    assert docs[1].flags == (("invalid_utf8", "first invalid byte at 3; 3 U+FFFD"),)


def test_a_50_mb_record_is_cut_flagged_and_the_next_one_read() -> None:
    big = b"0123456789abcdefghijklmnopqrstuvwxyz \n" * (50 * 1024 * 1024 // 38 + 1)
    docs, documents = read(gz(page(1), record("conversion", big, 2), page(3)), max_chars=1000)
    assert numbers(docs) == [1, 2, 3]
    assert len(docs[1].text) == 1000 and big.startswith(docs[1].text.encode())
    assert docs[1].flags == (("too_long", f"{len(big)} characters cut to 1000"),)
    assert documents.counts["too_long"] == 1 and documents.reader.problems == []


def run_extract(tmp: Path, inventory: Path) -> dict:
    argv = [f"--input={inventory}", "--output", str(tmp / "out"), "--metrics"]
    argv += [str(tmp / "metrics.json"), "--run-id", "t", "--master", "local[2]"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SparkSession, "stop", lambda self: None)
        assert extract.main(argv) == 0
    return json.loads((tmp / "metrics.json").read_text())


def test_extract_counts_lost_records_salvages_and_lists_flags(
    spark: SparkSession, tmp_path: Path
) -> None:
    crawl = "CC-MAIN-2019-04"
    raw = tmp_path / "raw" / crawl
    info = record("warcinfo", WARCINFO_BODY, 0)
    # A verified file with one record of the wrong length and one that is not UTF-8.
    body = b"short body"
    wrong = record("conversion", body, 2, len(body) + 3)
    ok = gz(info, page(1), wrong, record("conversion", b"\xff", 3))
    # A file whose gzip stream ends early at the source: the download kept its bytes.
    cut = gz(info, page(11), page(12), page(13))
    cut = cut[: len(cut) - 20]
    files = {"segments/1/wet/a.warc.wet.gz": ok, "_quarantine/segments/1/wet/b.warc.wet.gz": cut}
    for rel, data in files.items():
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw / rel).write_bytes(data)
    inventory = raw / "inventory.parquet"
    spark.createDataFrame(
        [
            (f"raw/{crawl}/segments/1/wet/a.warc.wet.gz", "ok"),
            (f"raw/{crawl}/_quarantine/segments/1/wet/b.warc.wet.gz", "quarantined"),
            (None, "quarantined"),  # a 404: nothing kept, nothing to salvage
        ],
        "raw_path string, status string",
    ).coalesce(1).write.parquet(str(inventory))
    metrics = run_extract(tmp_path, inventory)

    # Of 3 + 3 conversion records, 4 are read whole: 1 is lost to its length, 1 is cut off.
    assert metrics["rows_in"] == 6
    assert metrics["rows_kept"] == 4
    assert metrics["dropped_by_reason"] == {"bad_content_length": 1, "truncated_gzip": 1}
    assert metrics["rows_in"] == metrics["rows_kept"] + metrics["rows_dropped"]
    assert metrics["extra"]["lost_records"] == {"bad_content_length": 1, "truncated_gzip": 1}
    assert metrics["extra"]["flagged"] == {"invalid_utf8": 1, "salvaged": 2}

    flags = spark.read.parquet(str(tmp_path / "out" / "kind=flag")).collect()
    listed = {(r.reason, r.doc_id) for r in flags}
    uuid = "<urn:uuid:00000000-0000-0000-0000-{:012d}>"
    doc = lambda n: make_doc_id("common_crawl", uuid.format(n))  # noqa: E731
    assert listed == {("invalid_utf8", doc(3)), ("salvaged", doc(11)), ("salvaged", doc(12))}
    kept = {r.doc_id for r in spark.read.parquet(str(tmp_path / "out" / "kind=doc")).collect()}
    assert kept == {doc(1), doc(3), doc(11), doc(12)}


def test_missing_or_empty_reference_corpus(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing or without files: the job exits 2 naming the path (the run fails with it, not
    retried). Files without a record: no documents, and the mixture plan decides (an error
    unless `mixture.onMissingSource` is `renormalise`, test/mix-plan.test.ts)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("not a corpus file")
    blank = tmp_path / "blank"
    blank.mkdir()
    (blank / "part-0.jsonl").write_bytes(b"")
    params = json.dumps({"dataset": "webtext2"})
    outcomes = {}
    for name in ("missing", "empty", "blank"):
        argv = [f"--input={tmp_path / name}", "--output", str(tmp_path / f"out-{name}")]
        argv += ["--metrics", str(tmp_path / f"{name}.json"), "--run-id", "t"]
        argv += ["--master", "local[2]", "--params-json", params]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(SparkSession, "stop", lambda self: None)
            outcomes[name] = ingest_reference.main(argv)
        outcomes[f"{name} stderr"] = capsys.readouterr().err
    assert outcomes["missing"] == 2
    assert f"input not found: {tmp_path / 'missing'}" in outcomes["missing stderr"]
    assert outcomes["empty"] == 2
    assert f"no .jsonl/.json/.jsonl.gz files under {empty}" in outcomes["empty stderr"]
    assert outcomes["blank"] == 0
    metrics = json.loads((tmp_path / "blank.json").read_text())
    assert (metrics["rows_in"], metrics["rows_kept"]) == (0, 0)
