"""The dedup job on local Spark, against the miniature crawl's planted near-duplicates.

The mini crawl (size 1, two crawls) plants exact and near copies at known token-set Jaccard
within a crawl, across crawls (same URL re-crawled), inside every reference dataset and from
Common Crawl to WebText2. A pair is "above the threshold" when its planted Jaccard is >= 0.8.
Precision counts a found pair as right when it is planted or when its Jaccard, recomputed here in
plain Python from Spark's tokenisation rule, is >= 0.8 (the crawl's random pages are unrelated).

A job run costs tens of seconds of Spark overhead whatever its size, so the module runs the job
few times and several tests assert on each run: one run of everything (the mini crawl, the
degenerate rows, an empty dataset and, when present, the real documents, each scored only on its
own rows; datasets are deduped independently), the same inputs re-partitioned, and one run each
with the mllib strategy and with a tiny bucket cap on Common Crawl + WebText2.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from spark_jobs import dedup, extract
from spark_jobs.documents import DOC_KIND, DOCUMENTS, ROWS, kind_path, make_doc_id
from spark_jobs.job import Metrics

CRAWLS = ["CC-MAIN-2019-04", "CC-MAIN-2019-09"]
REFERENCES = ["webtext2", "books1", "books2", "wikipedia"]
SCHEMA = StructType(  # all nullable: the job must count a null text, not crash on it
    [StructField(f.name, f.dataType, True) for f in DOCUMENTS.fields]
    + [StructField("score", DoubleType(), True)]
)
THRESHOLD = dedup.DedupParams().jaccard_threshold
JAVA_WHITESPACE = re.compile(r"[ \t\n\x0b\f\r]")


def tokens(text: str) -> set[str]:
    """Spark's Tokenizer: lowercase, split on each Java whitespace char, drop trailing empties."""
    parts = JAVA_WHITESPACE.split(text.lower()) if text else [""]
    while parts and parts[-1] == "":
        parts.pop()
    return set(parts)


def jaccard(a: str, b: str) -> float:
    x, y = tokens(a), tokens(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def doc(doc_id: str, dataset: str, text: str | None, crawl: str | None = None, score=None):
    return (doc_id, dataset, crawl, None, None, None, text, score)


# Empty/one-token texts (MinHashLSH throws on an empty vector), an exact copy, a record seen twice
# and an id with two texts; "word" is also WebText2's document w1.
DEGENERATE_CC = [
    doc("e1", "common_crawl", ""),
    doc("e2", "common_crawl", "   "),
    doc("e3", "common_crawl", "\t\n"),
    doc("e4", "common_crawl", None),
    doc("t1", "common_crawl", "word"),
    doc("t2", "common_crawl", "word"),  # exact copy of t1
    doc("t3", "common_crawl", "other"),
    doc("t3", "common_crawl", "other"),  # the same record twice (copied across crawls)
    doc("c1", "common_crawl", "first text"),
    doc("c1", "common_crawl", "second text"),  # one id, two texts: a collision
]
DEGENERATE_WEBTEXT = [doc("w1", "webtext2", "word")]
DEGENERATE_IDS = {r[0] for r in DEGENERATE_CC + DEGENERATE_WEBTEXT}


def write_inputs(spark: SparkSession, rows: dict[str, list], root: Path, parts: int = 1) -> dict:
    """Each dataset as a stage output (`<root>/<name>/kind=doc/`); returns name -> folder."""
    folders = {}
    for name, data in rows.items():
        folders[name] = root / name
        df = spark.createDataFrame(data, SCHEMA).repartition(parts)
        df.write.mode("overwrite").parquet(kind_path(str(folders[name]), DOC_KIND))
    return folders


def run(
    spark: SparkSession,
    tmp: Path,
    inputs: dict,
    params: dict | None = None,
    errors: list[str] | None = None,
) -> tuple:
    """(exit code, metrics); `errors`, a list, receives the one-line errors."""
    argv = [f"--input-dataset={name}={path}" for name, path in inputs.items()]
    argv += ["--output", str(tmp / "out"), "--metrics", str(tmp / "metrics.json")]
    argv += ["--run-id", "test", "--params-json", json.dumps(params or {})]
    code = dedup.main(argv, spark=spark, on_error=errors.append if errors is not None else None)
    metrics = tmp / "metrics.json"
    return code, json.loads(metrics.read_text()) if metrics.exists() else {}


def read_out(spark: SparkSession, out: Path, what: str) -> DataFrame:
    return spark.read.parquet(str(out / what))


def run_in_session(session: SparkSession, inputs: dict, out: Path) -> Metrics:
    """The job's body in `session`, for settings `run` cannot give: `run_job` gives a job a new
    session, which does not inherit settings made on the test's session at run time."""
    argv = [f"--input-dataset={name}={path}" for name, path in inputs.items()]
    argv += ["--output", str(out), "--metrics", "unused", "--run-id", "test"]
    metrics = Metrics(job=dedup.NAME, run_id="test", params={})
    dedup.body(session, dedup.build_parser().parse_args(argv), dedup.DedupParams(), metrics)
    return metrics


# --- the mini crawl as documents, with its ground truth -----------------------------------------


@pytest.fixture(scope="module")
def corpus(spark: SparkSession, make_mini_crawl, tmp_path_factory, request) -> dict:
    mc = tmp_path_factory.mktemp("dedup-minicrawl")
    make_mini_crawl(mc, 1, 1, CRAWLS)
    names = ROWS.names
    rows: dict[str, list] = {"common_crawl": []}
    for path in sorted((mc / "crawl-data").rglob("*.warc.wet.gz")):
        for r in extract.extract_file(str(path), path.read_bytes(), extract.ExtractParams()):
            d = dict(zip(names, r, strict=True))
            if d["kind"] == "doc":
                rows["common_crawl"].append(
                    doc(d["doc_id"], "common_crawl", d["text"].decode(), d["crawl"])
                )
    for name in REFERENCES:
        lines = (mc / "reference" / name / "part-00000.jsonl").read_text().splitlines()
        rows[name] = [
            doc(make_doc_id(name, r["id"]), name, r["text"]) for r in map(json.loads, lines)
        ]
    truth = [
        json.loads(x)
        for x in (mc / "ground-truth" / "documents.jsonl").read_text().split("\n")
        if x
    ]
    refs = [
        json.loads(x)
        for x in (mc / "ground-truth" / "reference.jsonl").read_text().split("\n")
        if x
    ]
    texts = {r[0]: r[6] for data in rows.values() for r in data}
    mini = set(texts)
    # Degenerate rows ride along in the same run (their ids are not the mini crawl's).
    rows["common_crawl"] += DEGENERATE_CC
    rows["webtext2"] += DEGENERATE_WEBTEXT
    rows["empty"] = []  # a dataset without rows must not fail the job
    real = real_texts(request)
    if real:
        rows["real"] = [doc(k, "real", v) for k, v in real.items()]
        texts |= real
    folders = write_inputs(spark, rows, tmp_path_factory.mktemp("dedup-in"))
    return {
        "rows": rows,
        "truth": truth,
        "refs": refs,
        "folders": folders,
        "texts": texts,
        "mini": mini,
        "real": real,
    }


def real_texts(request: pytest.FixtureRequest) -> dict[str, str]:
    """Real Common Crawl text (dolma's dedup fixture + cc_net head samples), 30 documents.

    Empty when the shared data is absent: `test_real_documents` then skips, saying why.
    """
    try:
        shared_data = request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        return {}
    texts: dict[str, str] = {}
    files = [shared_data / "dedup" / "dolma-input-documents.json.gz"]
    files += sorted((shared_data / "cc_derived").glob("*.jsonl.gz"))
    for path in files:
        for i, line in enumerate(gzip.open(path, "rt", encoding="utf-8")):
            record = json.loads(line)
            texts[make_doc_id("common_crawl", f"{path.name}:{i}")] = record["text"]
    return texts


def planted(corpus: dict) -> dict[str, set]:
    """Planted pairs above the threshold by scope (both documents present after extract)."""
    texts = corpus["texts"]
    cc = {t["record_id"]: make_doc_id("common_crawl", t["record_id"]) for t in corpus["truth"]}
    pairs: dict[str, set] = {"within_crawl": set(), "cross_crawl": set(), "webtext": set()}
    pairs["within_dataset"] = set()
    for t in corpus["truth"]:
        if t["dup_of"] is None or (t["actual_jaccard"] or 0) < THRESHOLD:
            continue
        a = cc[t["record_id"]]
        if t["dup_scope"] == "webtext":
            b = make_doc_id("webtext2", t["dup_of"])
        else:
            b = cc.get(t["dup_of"])
        if a in texts and b in texts:
            pairs[t["dup_scope"]].add(tuple(sorted((a, b))))
    for r in corpus["refs"]:
        if r["dup_of"] is not None and r["actual_jaccard"] >= THRESHOLD:
            ids = make_doc_id(r["dataset"], r["id"]), make_doc_id(r["dataset"], r["dup_of"])
            pairs["within_dataset"].add(tuple(sorted(ids)))
    return pairs


@pytest.fixture(scope="module")
def banded(spark: SparkSession, corpus: dict, tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("dedup-banded")
    code, metrics = run(spark, tmp, corpus["folders"])
    assert code == 0
    return tmp / "out", metrics


def cluster_pairs(clusters: list) -> set:
    groups: dict[str, list[str]] = {}
    for r in clusters:
        groups.setdefault(r["cluster_id"], []).append(r["doc_id"])
    return {tuple(sorted(p)) for m in groups.values() for p in itertools.combinations(m, 2)}


def scope_of(pair: tuple, crawl: dict) -> str:
    a, b = pair
    if a in crawl and b in crawl:
        return "within_crawl" if crawl[a] == crawl[b] else "cross_crawl"
    return "within_dataset"


def figures(found: set, truth: set, texts: dict, name: str) -> tuple[float, float]:
    right = {p for p in found if p in truth or similar(p, texts)}
    precision = len(right) / len(found) if found else 1.0
    recall = len(found & truth) / len(truth) if truth else 1.0
    print(f"{name}: planted {len(truth)}, found {len(found)}, P {precision:.3f} R {recall:.3f}")
    return precision, recall


def similar(pair: tuple, texts: dict) -> bool:
    """Jaccard >= the threshold; a pair with a document outside `texts` is wrong."""
    a, b = pair
    return a in texts and b in texts and jaccard(texts[a], texts[b]) >= THRESHOLD


def read_frames(spark: SparkSession, corpus: dict, names: tuple[str, ...]) -> dict:
    return {k: spark.read.parquet(kind_path(str(corpus["folders"][k]), DOC_KIND)) for k in names}


# --- tests --------------------------------------------------------------------------------------


def test_planted_near_duplicates_are_found(spark: SparkSession, corpus: dict, banded) -> None:
    """Regression: a banding/threshold/star change that loses (or invents) near-duplicates."""
    out, _ = banded
    truth, texts, mini = planted(corpus), corpus["texts"], corpus["mini"]
    assert all(truth[s] for s in ("within_crawl", "cross_crawl", "webtext", "within_dataset"))
    crawl = {r[0]: r[2] for r in corpus["rows"]["common_crawl"]}
    found = cluster_pairs(read_out(spark, out, "clusters").collect())
    found = {p for p in found if p[0] in mini or p[1] in mini}  # the mini crawl's pairs
    for scope in ("within_crawl", "cross_crawl", "within_dataset"):
        mine = {p for p in found if scope_of(p, crawl) == scope}
        precision, recall = figures(mine, truth[scope], texts, scope)
        assert precision >= 0.95 and recall >= 0.95, scope
    # Against WebText2, by Common Crawl page: its match may be any WebText2 copy of the original.
    excluded = read_out(spark, out, "_excluded").filter(F.col("reason") == "near_webtext2")
    matched = {r["doc_id"]: r["detail"] for r in excluded.collect() if r["doc_id"] in mini}
    pages = {a if a in crawl else b for a, b in truth["webtext"]}
    right = {c for c, w in matched.items() if c in pages or similar((c, w), texts)}
    precision = len(right) / len(matched) if matched else 1.0
    recall = len(pages & set(matched)) / len(pages)
    figures_line = f"P {precision:.3f} R {recall:.3f}"
    print(f"against webtext2: planted {len(pages)}, found {len(matched)}, {figures_line}")
    assert precision >= 0.95 and recall >= 0.95, "against webtext2"


def test_counts_add_up_and_outputs_keep_the_input_columns(
    spark: SparkSession, corpus: dict, banded
) -> None:
    """Regression: a dropped row without a reason, or an output that changes the schema."""
    out, metrics = banded
    assert metrics["rows_in"] == sum(len(r) for r in corpus["rows"].values())
    assert metrics["rows_in"] == metrics["rows_kept"] + metrics["rows_dropped"]
    assert sum(metrics["dropped_by_reason"].values()) == metrics["rows_dropped"]
    per = metrics["extra"]["per_dataset"]
    for name, rows in corpus["rows"].items():
        entry = per[name]
        assert entry["in"] == len(rows) == entry["kept"] + sum(entry["dropped"].values())
        kept = spark.read.parquet(kind_path(str(out / name), DOC_KIND))
        assert kept.columns == SCHEMA.names and kept.count() == entry["kept"]
    assert per["common_crawl"]["dropped"].get("near_webtext2", 0) >= 1
    assert metrics["extra"]["removed_by_cross"] == metrics["dropped_by_reason"]["near_webtext2"]
    clusters = read_out(spark, out, "clusters")
    assert clusters.columns == dedup.CLUSTER_COLUMNS
    rows = clusters.collect()
    assert len(rows) == sum(e["docs_in_clusters"] for e in per.values())
    by_cluster: dict[str, list] = {}
    for r in rows:
        by_cluster.setdefault(r["cluster_id"], []).append(r)
    for cid, members in by_cluster.items():
        assert cid == min(m["doc_id"] for m in members)  # smallest id names the cluster
        assert all(m["cluster_size"] == len(members) for m in members)
        assert sum(m["kept"] for m in members) <= 1  # one survivor (none if near WebText2)
    assert metrics["extra"]["candidate_pairs"] >= metrics["extra"]["verified_pairs"] > 0
    assert metrics["extra"]["buckets"]["largest_bucket"] >= 2


def test_mllib_strategy_agrees_with_banded(spark: SparkSession, corpus: dict, banded) -> None:
    """Regression: the strategies disagree on pairs both of them found.

    mllib's candidates (any one of 10 min-hashes equal) contain banded's (two equal in a band),
    so every verified banded pair is an mllib pair; on the planted data the sets are equal and so
    are the clusters. A pair mllib alone finds is one the bands missed: printed if any.
    """
    inputs = ("common_crawl", "webtext2")
    params = dedup.DedupParams(strategy="mllib")
    result = dedup.dedup_datasets(read_frames(spark, corpus, inputs), params)
    try:
        counts = result.counts  # what the job's metrics sum: candidate pairs over the datasets
        candidates = sum(e["candidate_pairs"] for e in counts["pairs"].values())
        assert counts["within"]["or_candidate_pairs"] >= candidates
        out, _ = banded
        mine = result.clusters.collect()
        theirs = read_out(spark, out, "clusters").filter(F.col("dataset").isin(*inputs)).collect()
        only_mllib = cluster_pairs(mine) - cluster_pairs(theirs)
        print(f"mllib: {len(cluster_pairs(mine))} pairs in clusters, only mllib: {len(only_mllib)}")
        assert cluster_pairs(theirs) <= cluster_pairs(mine)
        if not only_mllib:
            assert sorted(map(tuple, mine)) == sorted(map(tuple, theirs))
        reasons = {"near_webtext2"}
        mllib_near = result.decisions.filter(F.col("reason").isin(*reasons))
        banded_near = read_out(spark, out, "_excluded").filter(F.col("reason").isin(*reasons))
        assert {r.doc_id for r in banded_near.collect()} <= {r.doc_id for r in mllib_near.collect()}
    finally:
        result.release()


def test_same_output_across_runs_and_partitionings(
    spark: SparkSession, corpus: dict, banded, tmp_path: Path
) -> None:
    """Regression: a result that depends on partition layout (row order, first(), ids).

    The same inputs in 3 files instead of 1, shuffled into 3 partitions instead of 4.
    """
    folders = write_inputs(spark, corpus["rows"], tmp_path / "in", parts=3)
    session = spark.newSession()
    session.conf.set("spark.sql.shuffle.partitions", "3")
    metrics = run_in_session(session, folders, tmp_path / "out")
    out, first = banded
    assert metrics.output_digest == first["output_digest"]
    assert metrics.dropped_by_reason == first["dropped_by_reason"]
    for what in ("clusters", "_excluded"):
        a = read_out(spark, out, what).collect()
        b = read_out(spark, tmp_path / "out", what).collect()
        assert sorted(map(tuple, a)) == sorted(map(tuple, b)), what


def compilations(spark: SparkSession) -> int:
    """Classes Spark has generated and compiled so far in this JVM (every session)."""
    metrics = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics
    return metrics.METRIC_COMPILATION_TIME().getCount()


def test_a_second_identical_run_compiles_no_code(
    spark: SparkSession, corpus: dict, tmp_path: Path
) -> None:
    """Regression: generated code that differs from run to run (a Python lambda's variable, named
    afresh in every query; a literal of the run) misses Spark's cache of compiled classes, so a
    warm job server compiles it, and the JIT its classes, in every run (job contract, rule 8).

    With the job server's settings: adaptive execution off (core/spark/conf.ts). On, it re-plans
    as each stage ends, so the plan, and its code, can depend on which stage ends first."""
    tiny = {name: rows[:4] for name, rows in corpus["rows"].items()}
    folders = write_inputs(spark, tiny, tmp_path / "in")
    session = spark.newSession()
    session.conf.set("spark.sql.adaptive.enabled", "false")
    run_in_session(session, folders, tmp_path / "first")
    before = compilations(spark)
    run_in_session(session, folders, tmp_path / "second")
    assert compilations(spark) - before == 0


def test_bucket_cap_is_counted_and_keeps_recall(spark: SparkSession, corpus: dict) -> None:
    """Regression: a capped bucket silently dropped, or splitting it losing near-duplicates."""
    frames = read_frames(spark, corpus, ("common_crawl", "webtext2"))
    result = dedup.dedup_datasets(frames, dedup.DedupParams(max_bucket_size=3))
    try:
        buckets = result.counts["within"]
        print(f"cap 3: {buckets}")
        assert buckets["capped_buckets"] > 0 and buckets["split_rounds"] >= 1
        assert buckets["docs_in_capped_buckets"] > 3 * buckets["capped_buckets"]
        found = cluster_pairs(result.clusters.collect())
        truth = planted(corpus)
        webtext = {r[0] for r in corpus["rows"]["webtext2"]}
        within = truth["within_crawl"] | truth["cross_crawl"]
        within |= {p for p in truth["within_dataset"] if p[0] in webtext}
        assert len(found & within) / len(within) >= 0.95
    finally:
        result.release()


def test_degenerate_inputs_are_counted(spark: SparkSession, corpus: dict, banded) -> None:
    """Regression: empty/one-token texts crash MinHashLSH, or an empty dataset fails the job.

    The degenerate rows (DEGENERATE_CC, DEGENERATE_WEBTEXT) and the dataset `empty` are part of
    the module's run; their fates are read from its outputs by id.
    """
    out, metrics = banded
    excluded = read_out(spark, out, "_excluded").collect()
    assert metrics["dropped_by_reason"] == Counter(r["reason"] for r in excluded)
    reasons = sorted((r["doc_id"], r["reason"]) for r in excluded if r["doc_id"] in DEGENERATE_IDS)
    assert reasons == [
        ("c1", "doc_id_collision"),
        ("e1", "empty_text"),
        ("e2", "empty_text"),
        ("e3", "empty_text"),
        ("e4", "empty_text"),
        ("t1", "near_webtext2"),  # "word" is WebText2's document w1
        ("t2", "exact_duplicate"),
        ("t3", "duplicate_doc_id"),
    ]
    per = metrics["extra"]["per_dataset"]
    assert set(per["webtext2"]["dropped"]) <= {"exact_duplicate", "near_duplicate"}
    assert per["empty"]["in"] == per["empty"]["kept"] == 0
    assert spark.read.parquet(kind_path(str(out / "empty"), DOC_KIND)).count() == 0
    kept = spark.read.parquet(kind_path(str(out / "common_crawl"), DOC_KIND))
    kept = kept.filter(F.col("doc_id").isin(*DEGENERATE_IDS)).collect()
    chosen = min(
        ("first text", "second text"), key=lambda t: hashlib.sha256(t.encode()).hexdigest()
    )
    assert sorted((r.doc_id, r.text) for r in kept) == [("c1", chosen), ("t3", "other")]
    webtext = spark.read.parquet(kind_path(str(out / "webtext2"), DOC_KIND))
    assert webtext.filter(F.col("doc_id") == "w1").count() == 1  # the reference side is kept


def test_bad_input_exits_2(spark: SparkSession, tmp_path: Path) -> None:
    """Regression: a bad spec or parameter reaching Spark instead of a one-line error."""
    assert run(spark, tmp_path, {})[0] == 2
    assert run(spark, tmp_path, {"cc": tmp_path / "missing"})[0] == 2
    assert run(spark, tmp_path, {"_x": tmp_path}, {})[0] == 2
    assert run(spark, tmp_path, {"cc": tmp_path}, {"bands": 3})[0] == 2
    assert run(spark, tmp_path, {"cc": tmp_path}, {"survivor": "newest"})[0] == 2


def test_an_id_in_several_datasets_is_refused(spark: SparkSession, tmp_path: Path) -> None:
    """Regression: an id shared by datasets deduped as one document (one dataset's copy would
    vanish as a duplicate_doc_id), or an error that does not name every dataset holding it."""
    rows = {
        "common_crawl": [doc("x1", "common_crawl", "a page"), doc("c2", "common_crawl", "b")],
        "webtext2": [doc("x1", "webtext2", "another page"), doc("w2", "webtext2", "c")],
        "books1": [doc("x1", "books1", "a book"), doc("b2", "books1", "d")],
        "wikipedia": [doc("p1", "wikipedia", "an article")],
    }
    errors: list[str] = []
    assert run(spark, tmp_path, write_inputs(spark, rows, tmp_path / "in"), errors=errors)[0] == 2
    assert errors == [
        "dedup: doc_id x1 appears in several datasets: ['books1', 'common_crawl', 'webtext2']"
    ]


def test_real_documents(spark: SparkSession, shared_data: Path, corpus: dict, banded) -> None:
    """Real Common Crawl text (dolma's dedup fixture + cc_net head samples), 30 documents.

    They are the dataset `real` of the module's run (default parameters, deduped on their own).
    """
    texts = corpus["real"]
    assert texts, f"no documents read from {shared_data}"
    out, _ = banded
    clusters = read_out(spark, out, "clusters").filter(F.col("dataset") == "real")
    found = cluster_pairs(clusters.collect())
    scores = {
        p: jaccard(texts[p[0]], texts[p[1]]) for p in itertools.combinations(sorted(texts), 2)
    }
    truth = {p for p, j in scores.items() if j >= THRESHOLD}
    top = sorted(scores.values(), reverse=True)[:3]
    print(
        f"real: {len(texts)} docs, pairs >= {THRESHOLD}: {len(truth)}, found {len(found)},"
        f" highest Jaccard {[round(j, 3) for j in top]}"
    )
    assert found == truth


def test_bucket_edges_link_each_query_to_the_nearest_anchors_on_both_sides(
    spark: SparkSession,
) -> None:
    """Regression: a wrong side or order in the neighbour edges (the star alone misses pairs whose
    shared buckets an unrelated page leads). One bucket of band 0; members ordered by the values
    outside the band (the sig's 3rd value here): a1 < q1 < a2 < q2 < a3, anchors a*, queries q*."""
    rows = []
    for rank, doc_id in enumerate(["a1", "q1", "a2", "q2", "a3"]):
        sig = [7, 7, rank, 0, 0, 0, 0, 0, 0, 0]
        anchor = doc_id.startswith("a")
        rows.append(("cross", 0, [7, 7], doc_id, sig, anchor, not anchor, 5, "a1"))
    columns = "group string, band int, key array<bigint>, doc_id string, sig array<bigint>, "
    columns += "anchor boolean, query boolean, size bigint, centre string"
    settled = spark.createDataFrame(rows, columns)
    edges = dedup.bucket_edges(settled, dedup.DedupParams(), symmetric=False)
    found = {(r.src, r.dst) for r in edges.collect()}
    assert found == {("q1", "a1"), ("q1", "a2"), ("q2", "a1"), ("q2", "a2"), ("q2", "a3")}


def test_verified_edges_count_every_candidate_and_keep_the_verified(spark: SparkSession) -> None:
    """Regression: counts that miss a group or a pair (they are observed in the checkpoint's own
    pass), or an unverified edge passed on to the clusters. Jaccard: b-a 1, c-a and c-b 4/6,
    d-a 0."""
    idx = spark.createDataFrame(
        [("a", [1, 2, 3, 4, 5]), ("b", [1, 2, 3, 4, 5]), ("c", [1, 2, 3, 4, 6]), ("d", [7, 8])],
        "doc_id string, idx array<int>",
    )
    candidates = [("x", "b", "a"), ("x", "c", "a"), ("x", "d", "a"), ("y", "c", "b")]
    edges = spark.createDataFrame(candidates, "group string, src string, dst string")
    kept, pairs = dedup.verified_edges(edges, idx, ["x", "y", "z"], 0.6)
    assert pairs == {
        "x": {"candidate_pairs": 3, "verified_pairs": 2},
        "y": {"candidate_pairs": 1, "verified_pairs": 1},
        "z": {"candidate_pairs": 0, "verified_pairs": 0},
    }
    found = sorted((r.group, r.src, r.dst) for r in kept.collect())
    assert found == [("x", "b", "a"), ("x", "c", "a"), ("y", "c", "b")]


def test_only_survivors_are_checked_against_webtext2(spark: SparkSession) -> None:
    """Regression: non-survivors checked against WebText2 (the count below; their fate alone would
    not show it, as a match removes only survivors), or cross edges joined into the clusters. c2
    duplicates c1 (the survivor, smallest id) and would match WebText2's x1; c1 is below the
    threshold to x1, so nothing is near WebText2."""
    words = [f"w{i:03d}" for i in range(300)]

    def text(ids) -> str:
        return " ".join(words[i] for i in ids)

    c1, c2 = text(range(100)), text([*range(90), *range(100, 110)])
    x1 = text([*range(85), *range(100, 110), *range(200, 205)])
    assert jaccard(c1, c2) >= THRESHOLD and jaccard(c2, x1) >= THRESHOLD > jaccard(c1, x1)
    frames = {
        "common_crawl": spark.createDataFrame(
            [doc("c1", "common_crawl", c1), doc("c2", "common_crawl", c2)], SCHEMA
        ),
        "webtext2": spark.createDataFrame([doc("x1", "webtext2", x1)], SCHEMA),
    }
    result = dedup.dedup_datasets(frames, dedup.DedupParams())
    try:
        fates = {r.doc_id: (r.reason, r.detail) for r in result.decisions.collect()}
        assert fates == {"c1": (None, None), "c2": ("near_duplicate", "c1"), "x1": (None, None)}
        clusters = [(r.doc_id, r.cluster_id, r.cluster_size) for r in result.clusters.collect()]
        assert sorted(clusters) == [("c1", "c1", 2), ("c2", "c1", 2)]
        # Only survivors ask: c2's match is never a candidate.
        assert result.counts["cross"]["verified_pairs"] == 0
    finally:
        result.release()
