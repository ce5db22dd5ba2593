"""The extract and ingest_reference jobs end to end on local Spark, against the mini crawl's truth.

The jobs run in-process through their `main(argv)`. `run_job` stops the session it gets, which
here is the shared test session, so `SparkSession.stop` is a no-op while a job runs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from spark_jobs import extract, ingest_reference
from spark_jobs.documents import (
    BATCH_TEXT_CHARS,
    DOC_KIND,
    DOCUMENTS,
    EXCLUDED,
    ROWS,
    ROWS_PER_BATCH,
    kind_path,
    make_doc_id,
    read_documents,
    read_excluded,
    rows_to_batches,
)
from spark_jobs.documents import row as rows_row  # `row` is a loop variable in these tests

CRAWLS = ["CC-MAIN-2017-04", "CC-MAIN-2019-04"]


def run(main, tmp: Path, inputs: list[Path], params: dict | None = None) -> tuple[int, dict]:
    argv = [f"--input={p}" for p in inputs]
    argv += ["--output", str(tmp / "out"), "--metrics", str(tmp / "metrics.json")]
    argv += ["--run-id", "test", "--master", "local[2]", "--params-json", json.dumps(params or {})]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SparkSession, "stop", lambda self: None)
        code = main(argv)
    metrics = tmp / "metrics.json"
    return code, json.loads(metrics.read_text()) if metrics.exists() else {}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def content_hash(df: DataFrame) -> str:
    digest = hashlib.sha256()
    for row in df.orderBy("doc_id").toLocalIterator():
        digest.update(json.dumps(row.asDict(), sort_keys=True).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def mini_crawl(tmp_path_factory: pytest.TempPathFactory, make_mini_crawl) -> Path:
    out = tmp_path_factory.mktemp("minicrawl")
    make_mini_crawl(out, 1, 7, CRAWLS)
    return out


@pytest.fixture(scope="module")
def extracted(
    spark: SparkSession, mini_crawl: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[tuple[Path, dict]]]:
    runs = []
    for _ in range(2):
        tmp = tmp_path_factory.mktemp("extract")
        code, metrics = run(extract.main, tmp, [mini_crawl / "crawl-data"])
        assert code == 0
        runs.append((tmp / "out", metrics))
    yield runs


def test_documents_match_ground_truth(spark: SparkSession, mini_crawl: Path, extracted) -> None:
    out, metrics = extracted[0]
    truth = read_jsonl(mini_crawl / "ground-truth" / "documents.jsonl")
    seen = [t for t in truth if t["lost"] is None]
    expected = {make_doc_id("common_crawl", t["record_id"]): t for t in seen if t["bytes"] > 0}
    docs = read_documents(spark, [str(out)], "test")
    assert [(f.name, f.dataType) for f in docs.schema] == [(f.name, f.dataType) for f in DOCUMENTS]
    rows = {r["doc_id"]: r for r in docs.collect()}
    assert set(rows) == set(expected)
    for doc_id, row in rows.items():
        t = expected[doc_id]
        assert (row["crawl"], row["url"], row["date"]) == (t["crawl"], t["url"], t["date"])
        assert row["dataset"] == "common_crawl"
        assert len(row["text"].encode()) == t["bytes"]  # bytes intact
        assert row["lang"] == (t["lang_header"].split(",")[0] if t["lang_header"] else None)
    assert any(r["lang"] for r in rows.values()) and any(not r["lang"] for r in rows.values())
    # Every conversion record counts, the ones lost inside broken files too.
    assert metrics["rows_in"] == len(truth)
    assert metrics["rows_kept"] == len(expected)
    assert metrics["extra"]["kept_by_crawl"] == {
        c: sum(t["crawl"] == c for t in expected.values()) for c in CRAWLS
    }
    # Characters, not bytes (the mini crawl has non-ASCII texts), from the `chars` the Python
    # side measured: a `chars` of bytes, or none at all, would change the sum and the mean.
    chars = [len(r["text"]) for r in rows.values()]
    assert sum(chars) < sum(len(r["text"].encode()) for r in rows.values())
    lengths = metrics["distributions"]["document_chars"]
    assert (lengths["min"], lengths["max"]) == (min(chars), max(chars))
    assert lengths["mean"] == round(sum(chars) / len(chars), 3)
    # `chars` measures the documents and is not written.
    assert "chars" not in spark.read.parquet(kind_path(str(out), DOC_KIND)).columns


def test_broken_files_and_empty_records_are_excluded_with_reasons(
    spark: SparkSession, mini_crawl: Path, extracted
) -> None:
    out, metrics = extracted[0]
    truth = read_jsonl(mini_crawl / "ground-truth" / "documents.jsonl")
    broken = json.loads((mini_crawl / "ground-truth" / "broken-files.json").read_text())
    excluded = read_excluded(spark, str(out))
    assert excluded.schema.names == EXCLUDED.names
    rows = excluded.collect()
    empties = {make_doc_id("common_crawl", t["record_id"]) for t in truth if t["kind"] == "empty"}
    assert empties and {r["doc_id"] for r in rows if r["reason"] == "empty"} == empties
    problems = {(Path(r["source_file"]).name, r["reason"]) for r in rows if r["doc_id"] is None}
    assert problems == {(Path(b["key"]).name, b["expectedProblem"]) for b in broken}
    lost = Counter(t["lost"] for t in truth if t["lost"])
    assert lost and metrics["extra"]["lost_records"] == dict(lost)
    assert metrics["dropped_by_reason"] == {"empty": len(empties), **lost}
    assert metrics["rows_in"] == metrics["rows_kept"] + metrics["rows_dropped"]
    for b in broken:
        assert metrics["extra"]["problems"][b["expectedProblem"]] >= 1
    wet_files = sorted((mini_crawl / "crawl-data").rglob("*.warc.wet.gz"))
    assert metrics["extra"]["files_read"] == len(wet_files)
    assert metrics["extra"]["bytes_read"] == sum(p.stat().st_size for p in wet_files)
    assert metrics["extra"]["non_conversion"] == len(wet_files)  # one warcinfo each
    lengths = metrics["distributions"]["document_chars"]
    assert lengths["count"] == metrics["rows_kept"]
    assert sum(b["count"] for b in lengths["histogram"]) == metrics["rows_kept"]


def test_two_runs_give_identical_content_and_layout(spark: SparkSession, extracted) -> None:
    (first, m1), (second, m2) = extracted
    a, b = (read_documents(spark, [str(p)], "test") for p in (first, second))
    assert content_hash(a) == content_hash(b)

    def layout(df: DataFrame) -> list:
        part = F.regexp_extract(F.input_file_name(), r"part-(\d+)", 1)
        return sorted(df.groupBy(part.alias("p")).agg(F.collect_list("doc_id")).collect())

    assert layout(a) == layout(b)
    assert {k: v for k, v in m1.items() if k != "seconds"} == {
        k: v for k, v in m2.items() if k != "seconds"
    }


def test_extract_reads_only_what_the_inventory_lists(
    spark: SparkSession, mini_crawl: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A storage root shared by runs holds files of other selections; the inventory decides."""
    crawl = CRAWLS[0]
    wet = sorted((mini_crawl / "crawl-data" / crawl).rglob("*.warc.wet.gz"))
    root = tmp_path / "root"
    raw = []
    for path in wet:
        rel = Path("raw") / crawl / path.relative_to(mini_crawl / "crawl-data" / crawl)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(path.read_bytes())
        raw.append(str(rel))
    chosen, other = raw[0], raw[1]
    # Named by its selection, as the download names it.
    inventory = root / "raw" / crawl / "inventory-0f3a9c2e1b7d4a65.parquet"
    spark.createDataFrame(
        [(chosen, "ok"), (None, "quarantined")], "raw_path string, status string"
    ).coalesce(1).write.parquet(str(inventory))
    code, metrics = run(extract.main, tmp_path, [inventory])
    assert code == 0
    assert metrics["extra"]["files_read"] == 1
    # The one file read is the chosen one, by size (the other file differs in size).
    assert (root / chosen).stat().st_size != (root / other).stat().st_size
    assert metrics["extra"]["bytes_read"] == (root / chosen).stat().st_size
    sources = {r.source_file for r in read_excluded(spark, str(tmp_path / "out")).collect()}
    assert sources <= {f"file:{root / chosen}"}
    # An inventoried file that is gone fails the job as bad input, naming the file (the read
    # checks the listed files; nothing checks them one by one before it).
    gone = Path("raw") / crawl / "gone.warc.wet.gz"
    broken = root / "raw" / crawl / "inventory-5e1d.parquet"
    spark.createDataFrame(
        [(chosen, "ok"), (str(gone), "ok")], "raw_path string, status string"
    ).coalesce(1).write.parquet(str(broken))
    capsys.readouterr()
    code, _ = run(extract.main, tmp_path / "broken", [broken])
    assert code == 2
    assert f"input not found: file:{root / gone}" in capsys.readouterr().err


def test_one_job_over_several_crawls_reads_each_inventory(
    spark: SparkSession, mini_crawl: Path, tmp_path: Path
) -> None:
    """The workflow groups small crawls into one job: every inventory given counts, and only it.

    Each crawl's inventory chooses one of its files; the job reads exactly those, and each
    document keeps the crawl of its own file.
    """
    root, inventories, chosen = tmp_path / "root", [], []
    for i, crawl in enumerate(CRAWLS):
        wet = sorted((mini_crawl / "crawl-data" / crawl).rglob("*.warc.wet.gz"))
        rel = [Path("raw") / crawl / p.relative_to(mini_crawl / "crawl-data" / crawl) for p in wet]
        for source, target in zip(wet, rel, strict=True):
            (root / target).parent.mkdir(parents=True, exist_ok=True)
            (root / target).write_bytes(source.read_bytes())
        chosen.append(root / rel[i])  # a different position in each crawl
        inventory = root / "raw" / crawl / "inventory-7a1c.parquet"
        spark.createDataFrame([(str(rel[i]), "ok")], "raw_path string, status string").coalesce(
            1
        ).write.parquet(str(inventory))
        inventories.append(inventory)
    code, metrics = run(extract.main, tmp_path, inventories)
    assert code == 0
    assert metrics["extra"]["files_read"] == len(CRAWLS)
    assert metrics["extra"]["bytes_read"] == sum(p.stat().st_size for p in chosen)
    docs = read_documents(spark, [str(tmp_path / "out")], "test")
    assert sorted(r.crawl for r in docs.select("crawl").distinct().collect()) == sorted(CRAWLS)


def test_batches_back_to_the_jvm_are_bounded_by_rows_and_by_text() -> None:
    # Unbounded by text, the two long documents of each pair would wait for 2,046 more rows; the
    # JVM takes a batch only whole, so the Python worker and the JVM would take turns.
    half = "x" * (BATCH_TEXT_CHARS // 2 + 1)
    long = [rows_row("doc", doc_id=f"long{i}", text=half) for i in range(5)]
    short = [rows_row("doc", doc_id=f"short{i}", text="y") for i in range(ROWS_PER_BATCH + 1)]
    schema = to_arrow_schema(ROWS)
    batches = list(rows_to_batches(long + short, schema))
    assert [b.num_rows for b in batches] == [2, 2, ROWS_PER_BATCH, 2]
    ids = [i for b in batches for i in b.column("doc_id").to_pylist()]
    assert ids == [r[ROWS.names.index("doc_id")] for r in long + short]


def test_extract_reports_bad_input(tmp_path: Path) -> None:
    code, _ = run(extract.main, tmp_path, [tmp_path / "missing"])
    assert code == 2
    code, _ = run(extract.main, tmp_path, [], {"max_document_chars": "x", "nope": 1})
    assert code == 2


def test_ingest_reference_jsonl(spark: SparkSession, mini_crawl: Path, tmp_path: Path) -> None:
    source = mini_crawl / "reference" / "webtext2"
    records = read_jsonl(source / "part-00000.jsonl")
    code, metrics = run(ingest_reference.main, tmp_path, [source], {"dataset": "webtext2"})
    assert code == 0
    docs = {
        r["doc_id"]: r for r in read_documents(spark, [str(tmp_path / "out")], "test").collect()
    }
    assert docs.keys() == {make_doc_id("webtext2", r["id"]) for r in records}
    for r in records:
        doc = docs[make_doc_id("webtext2", r["id"])]
        assert (doc["text"], doc["dataset"], doc["crawl"]) == (r["text"], "webtext2", None)
    assert (metrics["rows_in"], metrics["rows_kept"]) == (len(records), len(records))


def test_ingest_reference_text_folder(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "books"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"Chapter 1\r\nIt was a dark night.\r\n")
    (folder / "sub" / "b.txt").write_bytes(b"caf\xe9 au lait")
    (folder / "empty.txt").write_bytes(b"  \n")
    (folder / "_skipped.txt").write_bytes(b"not read")
    code, metrics = run(
        ingest_reference.main, tmp_path, [folder], {"dataset": "books1", "format": "text"}
    )
    assert code == 0
    docs = {
        r["doc_id"]: r["text"]
        for r in read_documents(spark, [str(tmp_path / "out")], "test").collect()
    }
    assert docs == {
        make_doc_id("books1", "a.txt"): "Chapter 1\r\nIt was a dark night.\r\n",
        make_doc_id("books1", "sub/b.txt"): "caf\ufffd au lait",
    }
    assert metrics["dropped_by_reason"] == {"empty": 1}
    assert metrics["extra"]["problems"] == {"empty": 1, "invalid_utf8": 1}
    assert metrics["extra"]["files_read"] == 3


def test_ingest_reference_parquet_and_bad_lines(spark: SparkSession, tmp_path: Path) -> None:
    rows = [("w1", "first article"), (None, "no id here"), ("w3", " "), ("w4", None)]
    spark.createDataFrame(rows, "id string, text string").coalesce(1).write.parquet(
        str(tmp_path / "wiki")
    )
    code, metrics = run(
        ingest_reference.main,
        tmp_path,
        [tmp_path / "wiki"],
        {"dataset": "wikipedia", "format": "parquet"},
    )
    assert code == 0
    docs = read_documents(spark, [str(tmp_path / "out")], "test")
    got = {r["doc_id"]: r["text"] for r in docs.collect()}
    part = next((tmp_path / "wiki").glob("part-*.parquet")).name
    assert got == {
        make_doc_id("wikipedia", "w1"): "first article",
        make_doc_id("wikipedia", f"{part}:1"): "no id here",
    }
    assert metrics["dropped_by_reason"] == {"empty": 2}

    # Without an id, a row is named by its file's path below the input, not its file name alone.
    for split in ("train", "validation"):
        (tmp_path / "splits" / split).mkdir(parents=True)
        texts = pa.table({"text": [f"{split} one", f"{split} two"]})
        pq.write_table(texts, tmp_path / "splits" / split / "part-0.parquet")
    code, _ = run(
        ingest_reference.main,
        tmp_path / "s",
        [tmp_path / "splits"],
        {"dataset": "books1", "format": "parquet"},
    )
    assert code == 0
    kept = read_documents(spark, [str(tmp_path / "s" / "out")], "test").collect()
    assert sorted(r["text"] for r in kept) == [
        "train one",
        "train two",
        "validation one",
        "validation two",
    ]
    assert len({r["doc_id"] for r in kept}) == 4

    lines = tmp_path / "lines"
    lines.mkdir()
    (lines / "x.jsonl").write_text('{"text": "ok"}\n\n{broken\n{"id": 7, "title": "t"}\n')
    code, metrics = run(ingest_reference.main, tmp_path / "j", [lines], {"dataset": "books2"})
    assert code == 0
    assert metrics["dropped_by_reason"] == {"invalid_json": 1, "missing_text": 1}
    assert metrics["extra"]["problems"]["blank_line"] == 1
    kept = read_documents(spark, [str(tmp_path / "j" / "out")], "test").collect()
    assert [r["doc_id"] for r in kept] == [make_doc_id("books2", "x.jsonl:0")]

    # Damaged .gz shards keep what comes before the damage and say so; they used to fail the job.
    shards = tmp_path / "shards"
    shards.mkdir()
    whole = gzip.compress(b"".join(b'{"text": "line %d"}\n' % i for i in range(2000)))
    (shards / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (shards / "not-gzip.jsonl.gz").write_bytes(b"plain bytes, not gzip")
    code, metrics = run(ingest_reference.main, tmp_path / "g", [shards], {"dataset": "books2"})
    assert code == 0
    assert metrics["extra"]["problems"] == {"truncated_gzip": 1, "corrupt_gzip": 1}
    assert 0 < metrics["rows_kept"] < 2000


# Each is read by Spark unless handled: `%20`/`%25` in a listing's URIs, `[`/`{` as a pattern.
ODD_NAME = "my books [1] {x} 100% +"


def test_files_with_spaces_percent_and_pattern_characters_in_their_path_are_read(
    spark: SparkSession, mini_crawl: Path, tmp_path: Path
) -> None:
    # Against the code before: the listing gave `a%20b` for `a b` (input not found); once decoded,
    # `[1]` and `{x}` were patterns matching no file; a Parquet row's name needs its URI to join.
    odd = tmp_path / ODD_NAME
    wet_dir = odd / "crawl-data" / "CC-MAIN-2019-04"
    wet_dir.mkdir(parents=True)
    wet = next(  # one with an excluded row, which names its file
        p
        for p in sorted((mini_crawl / "crawl-data").rglob("*.warc.wet.gz"))
        if any(
            r[0] == "dropped"
            for r in extract.extract_file("", p.read_bytes(), extract.ExtractParams())
        )
    )
    (wet_dir / f"{ODD_NAME}.warc.wet.gz").write_bytes(wet.read_bytes())
    code, metrics = run(extract.main, odd / "runs" / "wet", [odd])  # outputs too
    assert code == 0
    assert metrics["extra"]["files_read"] == 1
    assert metrics["rows_kept"] > 0
    excluded = read_excluded(spark, str(odd / "runs" / "wet" / "out")).select("source_file")
    sources = {r[0] for r in excluded.collect()}
    assert sources == {f"file:{wet_dir}/{ODD_NAME}.warc.wet.gz"}

    (odd / "text").mkdir()
    (odd / "text" / f"{ODD_NAME}.txt").write_text("a book")
    (odd / "lines").mkdir()
    (odd / "lines" / f"{ODD_NAME}.jsonl").write_text('{"id": "j", "text": "a line"}\n')
    (odd / "table").mkdir()
    pq.write_table(pa.table({"text": ["a row"]}), odd / "table" / f"{ODD_NAME}.parquet")
    for form, folder, text, name in [
        ("text", "text", "a book", f"{ODD_NAME}.txt"),
        ("jsonl", "lines", "a line", "j"),
        ("parquet", "table", "a row", f"{ODD_NAME}.parquet:0"),
    ]:
        params = {"dataset": "books1", "format": form}
        code, _ = run(ingest_reference.main, odd / "runs" / form, [odd / folder], params)
        assert code == 0, form
        docs = read_documents(spark, [str(odd / "runs" / form / "out")], form).collect()
        assert [(r["doc_id"], r["text"]) for r in docs] == [(make_doc_id("books1", name), text)]
