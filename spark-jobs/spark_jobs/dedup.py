"""Job `dedup`: fuzzy dedup within every dataset, then Common Crawl against WebText2.

    python -m spark_jobs.dedup --input-dataset common_crawl=DIR --input-dataset webtext2=DIR ...
        --output DIR --metrics FILE --run-id ID [--params-json '{"bands": 5}']

Brown et al. 2020, appendix A: documents were fuzzily deduplicated "within each dataset using
Spark's MinHashLSH implementation with 10 hashes, using the same features as were used for
classification", and WebText was removed from Common Crawl. Steps, all in Spark:

1. Ids and exact copies. A doc_id seen twice with the same text (a record copied across crawls)
   keeps one row (`duplicate_doc_id`); with different texts the smallest sha256(text) is kept
   and the others are `doc_id_collision`s. Null/whitespace texts are `empty_text` (MinHashLSH
   throws on an empty vector); identical texts keep the preferred doc (`exact_duplicate`).
2. Features: the classifier's own Tokenizer + HashingTF (`features.feature_stages`); a vector
   with no non-zero entry is `empty_features`. MinHashLSH with `num_hashes` functions gives the
   signature (read from its `hashes` column).
3. Candidates ("banded"): the signature in `bands` groups of num_hashes/bands rows; a bucket is
   (dataset, band, rows). Each member gets an edge to the bucket's smallest doc_id (a star, not
   all pairs) and one to its neighbour when the bucket is ordered by the min-hash values outside
   the band (`bucket_edges`), so there are at most 2 x bands x N edges (3 x for the WebText2
   pass) whatever the buckets look like. A bucket over `max_bucket_size` (counted) is split by
   the members' next min-hash values, one row at a time, until every piece is under the cap or
   all values are used: unrelated pages that share a common word's min-hash spread out,
   near-duplicates (which share most values) stay together, and no Spark task receives a giant
   bucket. "mllib" runs `approxSimilarityJoin` literally.
4. Verification: exact Jaccard of the HashingTF index sets, kept iff >= `jaccard_threshold`.
5. Clusters: connected components of the verified edges (`components.py`); cluster_id is the
   smallest doc_id; the survivor is the smallest doc_id, or with `survivor: "max_score"` the
   highest `score` (ties and missing scores: smallest doc_id). Everything else: `near_duplicate`.
6. Scope: every dataset within itself; then Common Crawl survivors with a verified edge to any
   WebText2 document (edges go from Common Crawl members to WebText2 members only) are
   `near_webtext2`.

Writes `<output>/<dataset>/` (kept rows, input columns), `<output>/clusters/` (doc_id, dataset,
cluster_id, cluster_size, kept; clusters of two or more) and `<output>/_excluded/` (doc_id,
dataset, reason, detail = the doc it duplicates). Rows are hash-partitioned by id into
ceil(rows / rows_per_file) files and sorted within them: the same content gives the same files.
With `spark.checkpoint.dir` set (runSparkJob sets it to the attempt's folder on a cluster), the
checkpoints between steps are reliable ones; otherwise (locally) they are local ones.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.ml.feature import MinHashLSH, MinHashLSHModel
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from spark_jobs.components import connected_components, cut_lineage
from spark_jobs.documents import DOC_KIND, digest_of, kind_path, read_documents
from spark_jobs.features import DEFAULT_NUM_FEATURES, FEATURES, TOKENS, feature_stages, is_empty
from spark_jobs.job import BadInput, Distribution, Metrics, arg_parser, run_job, side_by_side
from spark_jobs.quality_filter import EMPTY_TEXT
from spark_jobs.spark_session import ccmix_class

NAME = "dedup"
DUPLICATE_DOC_ID, DOC_ID_COLLISION = "duplicate_doc_id", "doc_id_collision"
EMPTY_FEATURES, EXACT_DUPLICATE = "empty_features", "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
STRATEGIES, SURVIVORS = ("banded", "mllib"), ("min_id", "max_score")
EXCLUDED_COLUMNS = ["doc_id", "dataset", "reason", "detail"]
CLUSTER_COLUMNS = ["doc_id", "dataset", "cluster_id", "cluster_size", "kept"]
CLUSTER_SIZE_EDGES = (2, 3, 4, 8, 16, 64, 256)
MINHASH_VALUE = "ccmix_minhash_value"  # SQL function: one MinHashLSH hash as a long


@dataclass(frozen=True)
class DedupParams:
    """Dedup settings (the paper fixes only the 10 hashes and the features).

    num_hashes: MinHash functions (the paper's 10). bands: groups of num_hashes/bands rows; 5 x 2
      by measurement: recall 1.0 on the planted pairs at J >= 0.8 and few candidates per document
      (10 x 1 puts unrelated pages that share a common word in one bucket; 2 x 5 and 1 x 10 miss
      J = 0.8 pairs). jaccard_threshold: 0.8 on unigram sets, far above unrelated English pages
      (median 0.045, 99th percentile 0.12) and kept by a page with a fifth of its words changed.
    max_bucket_size: buckets above it are split by further min-hash values (counted).
    strategy: "banded" or "mllib" (approxSimilarityJoin, quadratic: for comparison on small data).
    survivor: "min_id" or "max_score". seed: the MinHashLSH seed. num_features: HashingTF size,
      the classifier's. cross_from/cross_against: the datasets of the cross-dataset removal.
    max_iterations: connected-component rounds before giving up. rows_per_file: output layout.
    """

    num_hashes: int = 10
    bands: int = 5
    jaccard_threshold: float = 0.8
    max_bucket_size: int = 1000
    strategy: str = "banded"
    survivor: str = "min_id"
    seed: int = 0
    num_features: int = DEFAULT_NUM_FEATURES
    cross_from: str = "common_crawl"
    cross_against: str = "webtext2"
    max_iterations: int = 30
    rows_per_file: int = 200_000

    def __post_init__(self) -> None:
        if self.num_hashes < 1 or self.bands < 1 or self.num_hashes % self.bands:
            raise BadInput(f"bands ({self.bands}) must divide num_hashes ({self.num_hashes})")
        if not 0.0 < self.jaccard_threshold <= 1.0:
            raise BadInput(f"jaccard_threshold must be in (0, 1], got {self.jaccard_threshold}")
        if self.max_bucket_size < 2 or self.max_iterations < 1 or self.rows_per_file < 1:
            raise BadInput("max_bucket_size must be >= 2, max_iterations and rows_per_file >= 1")
        if self.strategy not in STRATEGIES or self.survivor not in SURVIVORS:
            raise BadInput(f"strategy in {STRATEGIES}, survivor in {SURVIVORS}")

    @property
    def rows(self) -> int:
        return self.num_hashes // self.bands

    @property
    def cross_reason(self) -> str:
        return f"near_{self.cross_against}"


# --- 1. ids, empties and exact copies ----------------------------------------------------------


def unique_doc_ids(df: DataFrame) -> DataFrame:
    """Input rows + `_sha` + `_reason` (null, duplicate_doc_id, doc_id_collision) + `_detail`
    + `_clash` (the doc_id is also in another dataset: `check_unique_ids`).

    Per doc_id the row with the smallest sha256(text), then the smallest other columns, is kept.
    """
    sha = F.sha2(F.coalesce(F.col("text"), F.lit("")), 256)
    plain = [c for c, t in df.dtypes if c not in ("doc_id", "text") and "<" not in t]
    order = [F.col("_sha").asc_nulls_first()] + [F.col(c).asc_nulls_first() for c in plain]
    by_id = Window.partitionBy("doc_id").orderBy(*order)
    # Same partitioning as `by_id`: the check rides on this exchange instead of a pass of its own.
    whole_id = Window.partitionBy("doc_id")
    clash = F.min("dataset_key").over(whole_id) != F.max("dataset_key").over(whole_id)
    ranked = df.withColumn("_sha", sha).withColumn("_n", F.row_number().over(by_id))
    ranked = ranked.withColumn("_clash", clash)
    ranked = ranked.withColumn("_first", F.first("_sha").over(by_id))
    reason = (
        F.when(F.col("_n") == 1, F.lit(None))
        .when(F.col("_sha") == F.col("_first"), F.lit(DUPLICATE_DOC_ID))
        .otherwise(F.lit(DOC_ID_COLLISION))
    )
    detail = F.when(F.col("_n") > 1, F.concat(F.lit("kept text sha256 "), F.col("_first")))
    return (
        ranked.withColumn("_reason", reason.cast("string"))
        .withColumn("_detail", detail)
        .drop("_n", "_first")
    )


def preference(survivor: str) -> Column:
    """The order a survivor is chosen by (smallest wins): (-score, doc_id) or (0, doc_id)."""
    first = F.lit(0.0)
    if survivor == "max_score":
        first = -F.coalesce(F.col("score").cast("double"), F.lit(float("-inf")))
    return F.struct(first.alias("s"), F.col("doc_id").alias("id"))


def with_features(docs: DataFrame, num_features: int) -> DataFrame:
    """+ `features` (the classifier's) and `idx`, the sorted non-zero indices of the vector.

    Spark SQL cannot read a vector's fields; its JSON form carries them (JVM only, no Python).
    """
    featured = PipelineModel(stages=feature_stages(num_features)).transform(docs)
    as_json = F.to_json(F.struct(F.col(FEATURES).alias("v")))
    idx = F.from_json(as_json, "v struct<indices: array<int>>")["v"]["indices"]
    return featured.drop(TOKENS).withColumn("idx", F.coalesce(idx, F.array().cast("array<int>")))


def exact_duplicates(docs: DataFrame, survivor: str) -> DataFrame:
    """+ `pref` and `rep`: the preferred doc_id among the identical texts of its dataset."""
    docs = docs.withColumn("pref", preference(survivor))
    best = docs.groupBy("dataset", "_sha").agg(F.min("pref").alias("_best"))
    return docs.join(best, ["dataset", "_sha"]).withColumn("rep", F.col("_best.id")).drop("_best")


# --- 2. MinHash signatures ---------------------------------------------------------------------


def minhash_model(spark: SparkSession, params: DedupParams) -> MinHashLSHModel:
    """The model depends only on the seed and the dimension: fitted on no rows, the dimension
    given in the column's ML metadata. (Fitted on a row, it ran a Spark job to read the
    dimension off that row: 0.35 s of a warm run, the same hash functions.)"""
    dimension = {"ml_attr": {"num_attrs": params.num_features}}
    probe = spark.createDataFrame(
        [], StructType([StructField(FEATURES, VectorUDT(), metadata=dimension)])
    )
    lsh = MinHashLSH(
        inputCol=FEATURES, outputCol="hashes", numHashTables=params.num_hashes, seed=params.seed
    )
    return lsh.fit(probe)


def signatures(docs: DataFrame, model: MinHashLSHModel) -> DataFrame:
    """+ `hashes` (MinHashLSH's output) and `sig`, its num_hashes values as longs."""
    ccmix_class(docs.sparkSession, "MinHashValue").register(
        docs.sparkSession._jsparkSession, MINHASH_VALUE
    )
    # SQL text, not a Python lambda (job contract, rule 8).
    sig = F.expr(f"transform(hashes, v -> {MINHASH_VALUE}(v))")
    return model.transform(docs).withColumn("sig", sig)


# --- 3. candidates -----------------------------------------------------------------------------


def bucket_edges(settled: DataFrame, params: DedupParams, symmetric: bool) -> DataFrame:
    """Edges (group, src = a query, dst = an anchor) within settled buckets: the star to the
    bucket's centre, and to the nearest anchor on each side in the members' order by their
    min-hash values outside the band (the next band's first).

    The star alone misses two near-duplicates whose shared buckets are led by unrelated pages,
    which grows with the data (recall 0.90 at 4x the miniature crawl). Near-duplicates share
    most of their other values too, so that order puts them side by side. Still at most three
    edges per member and band. symmetric: every member is an anchor and a query (within a
    dataset), so one side suffices and a pair is kept once, smaller id as dst.
    """
    r, n = params.rows, params.num_hashes
    following = f"element_at(sig, CAST((band * {r} + {r} + i) % {n} + 1 AS INT))"
    # SQL text, not a Python lambda (job contract, rule 8).
    outside = F.expr(f"transform(sequence(0, {n - r - 1}), i -> {following})")
    within = Window.partitionBy("group", "band", "key")
    anchor_id = F.when(F.col("anchor"), F.col("doc_id"))
    # The anchor after a member is the one before it in the reverse order: a running frame. (A
    # frame from the next row to the bucket's end is recomputed for every row: quadratic.)
    nearest = {
        "_before": within.orderBy("_outside", "doc_id"),
        "_after": within.orderBy(F.desc("_outside"), F.desc("doc_id")),
    }
    targets = ["centre", "_before"] if symmetric else ["centre", "_before", "_after"]
    # A member alone in its bucket has no edge: most are, on real data, so they skip the sort.
    shared = settled.filter(F.col("size") > 1)
    ranked = shared.withColumn("_outside", outside).select(
        "group",
        "doc_id",
        "query",
        "centre",
        *[
            F.last(anchor_id, ignorenulls=True)
            .over(order.rowsBetween(Window.unboundedPreceding, -1))
            .alias(side)
            for side, order in nearest.items()
            if side in targets
        ],
    )
    edges = ranked.filter(F.col("query")).select(
        "group", F.col("doc_id").alias("src"), F.explode(F.array(*targets)).alias("dst")
    )
    edges = edges.filter(F.col("dst").isNotNull() & (F.col("src") != F.col("dst")))
    if symmetric:
        edges = edges.select(
            "group",
            F.greatest("src", "dst").alias("src"),
            F.least("src", "dst").alias("dst"),
        )
    return edges


def banded_edges(
    members: DataFrame, params: DedupParams, symmetric: bool
) -> tuple[DataFrame, dict]:
    """Candidate edges (group, src, dst) within the buckets of every band, and the bucket counts.

    members: group, doc_id, sig, anchor (may be an edge's dst), query (gets edges).
    """
    r, n = params.rows, params.num_hashes
    band = F.explode(F.sequence(F.lit(0), F.lit(params.bands - 1))).alias("band")
    keyed = members.select("group", "doc_id", "sig", "anchor", "query", band)
    keyed = keyed.withColumn("key", F.slice("sig", F.col("band") * r + 1, F.lit(r)))
    stats = {"largest_bucket": 0, "capped_buckets": 0, "docs_in_capped_buckets": 0}
    stats |= {"split_rounds": 0, "capped_after_all_hashes": 0}
    parts = []
    for depth in range(n - r + 1):
        buckets = keyed.groupBy("group", "band", "key").agg(
            F.count(F.lit(1)).alias("size"),
            F.min(F.when(F.col("anchor"), F.col("doc_id"))).alias("centre"),
        )
        over = F.col("size") > params.max_bucket_size
        top = buckets.agg(
            F.max("size"), F.sum(over.cast("long")), F.sum(F.when(over, F.col("size")))
        ).first()  # bounded: one row
        capped = int(top[1] or 0)
        if depth == 0:
            stats.update(largest_bucket=int(top[0] or 0), capped_buckets=capped)
            stats["docs_in_capped_buckets"] = int(top[2] or 0)
        joined = keyed.join(buckets, ["group", "band", "key"])
        last = capped == 0 or depth == n - r
        settled = joined if last else joined.filter(~over)
        parts.append(bucket_edges(settled, params, symmetric))
        if last:
            stats["capped_after_all_hashes"] = capped if depth == n - r else 0
            break
        stats["split_rounds"] += 1
        following = (F.col("band") * r + r + depth) % n + 1  # the next row outside the band
        key = F.concat("key", F.array(F.element_at("sig", following.cast("int"))))
        keyed = cut_lineage(
            joined.filter(over).select(
                "group", "doc_id", "sig", "anchor", "query", "band", key.alias("key")
            )
        )
    return reduce(DataFrame.unionByName, parts).distinct(), stats


def mllib_edges(
    left: DataFrame, right: DataFrame, model: MinHashLSHModel, params: DedupParams, self_join: bool
) -> DataFrame:
    """(src, dst) from `approxSimilarityJoin` at distance 1 - threshold (Spark keeps d < t)."""
    distance = 1.0 - params.jaccard_threshold + 1e-9
    pairs = model.approxSimilarityJoin(left, right, distance, "distance").select(
        F.col("datasetA.doc_id").alias("src"), F.col("datasetB.doc_id").alias("dst")
    )
    return pairs.filter(F.col("src") > F.col("dst")) if self_join else pairs


def or_candidates(members: DataFrame) -> int:
    """Pairs that share at least one min-hash: what `approxSimilarityJoin` joins (quadratic)."""
    exploded = members.select("group", "doc_id", F.posexplode("sig").alias("i", "h"))
    a, b = exploded.alias("a"), exploded.alias("b")
    pairs = a.join(b, ["group", "i", "h"]).filter(F.col("a.doc_id") < F.col("b.doc_id"))
    return pairs.select("a.doc_id", "b.doc_id").distinct().count()  # bounded: one number


# --- 4. verification ---------------------------------------------------------------------------


def score_edges(edges: DataFrame, idx: DataFrame) -> DataFrame:
    """Edges + `jaccard`, exact on the feature index sets (keep those >= the threshold)."""
    left = idx.select(F.col("doc_id").alias("src"), F.col("idx").alias("_a"))
    right = idx.select(F.col("doc_id").alias("dst"), F.col("idx").alias("_b"))
    joined = edges.join(left, "src").join(right, "dst")
    shared = F.size(F.array_intersect("_a", "_b"))
    jaccard = shared / F.size(F.array_union("_a", "_b"))
    return joined.withColumn("jaccard", jaccard).drop("_a", "_b")


def verified_edges(
    edges: DataFrame, idx: DataFrame, groups: Sequence[str], threshold: float
) -> tuple[DataFrame, dict[str, dict[str, int]]]:
    """The candidate edges at Jaccard >= threshold (`score_edges`), cut from their lineage, and
    per group its `candidate_pairs` and `verified_pairs`, observed in the same pass: the counts
    take no job of their own."""
    scored = score_edges(edges, idx)
    verified = (F.col("jaccard") >= threshold).cast("long")
    counts = []
    for i, group in enumerate(groups):
        mine = (F.col("group") == group).cast("long")
        counts.append(F.sum(mine).alias(f"candidates{i}"))
        counts.append(F.sum(mine * verified).alias(f"verified{i}"))
    observed = Observation()
    kept = cut_lineage(scored.observe(observed, *counts).filter(verified == 1))
    found = observed.get
    pairs = {
        group: {
            "candidate_pairs": int(found[f"candidates{i}"] or 0),
            "verified_pairs": int(found[f"verified{i}"] or 0),
        }
        for i, group in enumerate(groups)
    }
    return kept, pairs


# --- 5. clusters -------------------------------------------------------------------------------


def resolve_clusters(members: DataFrame, labels: DataFrame) -> DataFrame:
    """members (dataset, doc_id, rep, pref) + cluster_id, cluster_size, survivor, reason, detail.

    A doc's cluster is its exact copy's representative's component; every doc is in one.
    """
    component = labels.select(F.col("doc_id").alias("rep"), F.col("label").alias("_g"))
    grouped = members.join(component, "rep", "left").withColumn("_g", F.coalesce("_g", "rep"))
    per = grouped.groupBy("dataset", "_g").agg(
        F.min("doc_id").alias("cluster_id"),
        F.count(F.lit(1)).alias("cluster_size"),
        F.min("pref")["id"].alias("survivor"),
    )
    out = grouped.join(per, ["dataset", "_g"]).drop("_g")
    survives = F.col("doc_id") == F.col("survivor")
    exact = F.col("doc_id") != F.col("rep")
    reason = F.when(survives, F.lit(None)).when(exact, EXACT_DUPLICATE).otherwise(NEAR_DUPLICATE)
    detail = F.when(survives, F.lit(None)).when(exact, F.col("rep")).otherwise(F.col("survivor"))
    return out.withColumn("reason", reason.cast("string")).withColumn("detail", detail)


# --- 6. scope: every dataset, then Common Crawl against WebText2 --------------------------------


@dataclass
class DedupResult:
    documents: DataFrame  # every input row + reason (null = kept) + detail
    columns: dict[str, list[str]]  # dataset -> its input columns
    clusters: DataFrame  # CLUSTER_COLUMNS, clusters of two or more
    counts: dict = field(default_factory=dict)  # candidate/verified pairs, buckets, rounds
    held: list[DataFrame] = field(default_factory=list)

    def kept(self, name: str) -> DataFrame:
        kept = self.documents.filter((F.col("dataset_key") == name) & F.col("reason").isNull())
        return kept.select(*self.columns[name])

    @property
    def decisions(self) -> DataFrame:
        return self.documents.select(
            F.col("dataset_key").alias("dataset"), "doc_id", "reason", "detail"
        )

    def release(self) -> None:
        for df in self.held:
            df.unpersist()


def union_datasets(datasets: Mapping[str, DataFrame]) -> DataFrame:
    """One frame: every row + `dataset_key` (the name it was given under) + a double `score`."""
    parts = []
    for name, df in datasets.items():
        if "score" not in df.columns:
            df = df.withColumn("score", F.lit(None).cast("double"))
        parts.append(df.withColumn("dataset_key", F.lit(name)))
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)


def within_edges(reps: DataFrame, model: MinHashLSHModel, params: DedupParams) -> tuple:
    members = reps.select(
        F.col("dataset").alias("group"),
        "doc_id",
        "sig",
        F.lit(True).alias("anchor"),
        F.lit(True).alias("query"),
    )
    if params.strategy == "banded":
        return banded_edges(members, params, symmetric=True)
    names = [r.dataset for r in reps.select("dataset").distinct().collect()]  # bounded: datasets
    edges = members.select("group", F.col("doc_id").alias("src"), F.col("doc_id").alias("dst"))
    edges = edges.limit(0)
    for name in sorted(names):
        mine = reps.filter(F.col("dataset") == name)
        found = mllib_edges(mine, mine, model, params, self_join=True)
        edges = edges.unionByName(found.withColumn("group", F.lit(name)))
    return edges, {"or_candidate_pairs": or_candidates(members)}


def cross_edges(
    queries: DataFrame, references: DataFrame, model: MinHashLSHModel, params: DedupParams
) -> tuple[DataFrame, dict]:
    """Candidate edges (group "cross", src = query, dst = reference) and bucket counts."""
    if params.strategy == "mllib":
        edges = mllib_edges(queries, references, model, params, self_join=False)
        return edges.withColumn("group", F.lit("cross")), {}
    members = queries.select(
        "doc_id", "sig", F.lit(False).alias("anchor"), F.lit(True).alias("query")
    ).unionByName(
        references.select("doc_id", "sig", F.lit(True).alias("anchor"), F.lit(False).alias("query"))
    )
    return banded_edges(members.withColumn("group", F.lit("cross")), params, symmetric=False)


def check_unique_ids(docs: DataFrame) -> None:
    """`docs`: `unique_doc_ids`. One aggregation over them (the action that fills their cache)."""
    first = docs.agg(F.min(F.when(F.col("_clash"), F.col("doc_id")))).first()[0]  # bounded: one row
    if first is not None:
        rows = docs.filter(F.col("doc_id") == first).select("dataset_key").distinct()
        names = sorted(r[0] for r in rows.collect())  # bounded: one row per dataset
        raise BadInput(f"doc_id {first} appears in several datasets: {names}")


def _held(df: DataFrame, held: list[DataFrame]) -> DataFrame:
    held.append(df.persist(StorageLevel.MEMORY_AND_DISK))
    return held[-1]


def dedup_datasets(datasets: Mapping[str, DataFrame], params: DedupParams) -> DedupResult:
    """Every dataset deduped within itself, then `cross_from` against `cross_against`.

    Everything it persists is released by `DedupResult.release`, or here if it fails.
    """
    held: list[DataFrame] = []
    try:
        return _dedup(datasets, params, held)
    except BaseException:
        for df in held:
            df.unpersist()
        raise


def _dedup(datasets: Mapping[str, DataFrame], params: DedupParams, held: list) -> DedupResult:
    spark = next(iter(datasets.values())).sparkSession
    # The per-id window shuffles every row, text included, by doc_id. Its output feeds the
    # features, the metrics and every output write (one per dataset, then `_excluded`): held
    # once, it is computed once instead of once per write. Nothing else holds the text.
    docs = _held(unique_doc_ids(union_datasets(datasets)), held)
    check_unique_ids(docs)
    narrow = docs.filter(F.col("_reason").isNull() & ~is_empty(F.col("text"))).select(
        F.col("dataset_key").alias("dataset"), "doc_id", "text", "score", "_sha"
    )
    featured = with_features(narrow, params.num_features).filter(F.size("idx") > 0)
    members = exact_duplicates(featured, params.survivor)
    members = _held(members.select("dataset", "doc_id", "rep", "pref", "idx", FEATURES), held)
    model = minhash_model(spark, params)
    reps = _held(signatures(members.filter(F.col("doc_id") == F.col("rep")), model), held)

    edges, stats = within_edges(reps, model, params)
    verified, pairs = verified_edges(edges, reps, sorted(datasets), params.jaccard_threshold)
    counts = {"within": stats, "pairs": pairs}
    labels, counts["component_rounds"] = connected_components(verified, params.max_iterations)
    resolved = resolve_clusters(members.select("dataset", "doc_id", "rep", "pref"), labels)

    if params.cross_from in datasets and params.cross_against in datasets:
        # Cut, not held: a held frame keeps its whole plan, which every later query analyses and
        # matches against the cache again. Cutting it, and the verified edges, took a warm run
        # on a tiny input from about 6.0 s to 4.9 s (medians of 7 runs, stop 32).
        resolved = cut_lineage(resolved)
        survivors = resolved.filter(
            (F.col("dataset") == params.cross_from) & F.col("reason").isNull()
        )
        queries = reps.join(survivors.select("doc_id"), "doc_id", "left_semi")
        references = reps.filter(F.col("dataset") == params.cross_against)
        edges, cross_stats = cross_edges(queries, references, model, params)
        matched, pairs = verified_edges(edges, reps, ["cross"], params.jaccard_threshold)
        counts["cross"] = {**cross_stats, **pairs["cross"]}
        matches = matched.groupBy("src").agg(F.min("dst").alias("_match"))
        near = F.col("_match").isNotNull() & F.col("reason").isNull()
        resolved = (
            resolved.join(matches.withColumnRenamed("src", "doc_id"), "doc_id", "left")
            .withColumn("detail", F.when(near, F.col("_match")).otherwise(F.col("detail")))
            .withColumn(
                "reason", F.when(near, F.lit(params.cross_reason)).otherwise(F.col("reason"))
            )
            .drop("_match")
        )

    # Cut, not held: the summary and each of the output writes planned its whole lineage again
    # (candidates, components, cross matches), 6 of a warm 20 s run on the demo's data.
    resolved = cut_lineage(resolved)
    # One join gives every input row its fate: id-level first, then empty, then the clusters.
    fate = resolved.select(
        "doc_id",
        F.col("reason").alias("_fate"),
        F.col("detail").alias("_why"),
        F.lit(True).alias("_seen"),
    )
    decided = docs.join(fate, "doc_id", "left")
    empty = is_empty(F.col("text"))
    reason = (
        F.when(F.col("_reason").isNotNull(), F.col("_reason"))
        .when(empty, F.lit(EMPTY_TEXT))
        .when(F.col("_seen").isNull(), F.lit(EMPTY_FEATURES))
        .otherwise(F.col("_fate"))
    )
    detail = F.when(F.col("_reason").isNotNull(), F.col("_detail")).otherwise(F.col("_why"))
    decided = decided.withColumn("reason", reason).withColumn("detail", detail)
    decided = decided.drop("_sha", "_reason", "_detail", "_clash", "_fate", "_why", "_seen")
    clusters = resolved.filter(F.col("cluster_size") >= 2).select(
        "doc_id", "dataset", "cluster_id", "cluster_size", F.col("reason").isNull().alias("kept")
    )
    columns = {name: list(df.columns) for name, df in datasets.items()}
    return DedupResult(decided, columns, clusters, counts, held)


# --- the job -----------------------------------------------------------------------------------


def read_inputs(spark: SparkSession, specs: Sequence[str]) -> dict[str, DataFrame]:
    """`NAME=PATH` (repeatable; a name given twice reads both) -> documents (+ score) per dataset.

    The only place the job reads: stage outputs through `documents.read_documents`.
    """
    paths: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise BadInput(f"--input-dataset wants NAME=PATH, got {spec!r}")
        if name.startswith(("_", ".")) or name == "clusters" or "/" in name:
            raise BadInput(f"dataset name {name!r} is reserved or not a folder name")
        paths.setdefault(name, []).append(path)
    if not paths:
        raise BadInput("no --input-dataset given")
    return {
        name: read_documents(spark, p, name, extra=("score",)) for name, p in sorted(paths.items())
    }


def write_outputs(out: str, result: DedupResult, sizes: Mapping[str, int], rows_per_file: int):
    """`<out>/<dataset>/kind=doc/`, `<out>/clusters/`, `<out>/_excluded/`: deterministic files.

    The only place the job writes. Rows are hash-partitioned by id into ceil(rows /
    rows_per_file) files and sorted within them, so the same rows give the same files.
    """

    def write(df: DataFrame, rows: int, path: str, *order: str) -> Callable[[], None]:
        parts = max(1, math.ceil(rows / rows_per_file))
        df = df.repartition(parts, order[0]).sortWithinPartitions(*order)
        return lambda: df.write.mode("overwrite").parquet(f"{out}/{path}")

    # Each dataset's kept rows, readable by `read_documents(<out>/<name>)`.
    writes = [
        write(result.kept(name), sizes[name], kind_path(name, DOC_KIND), "doc_id")
        for name in result.columns
    ]
    writes.append(write(result.clusters, sizes["clusters"], "clusters", "cluster_id", "doc_id"))
    excluded = result.decisions.filter(F.col("reason").isNotNull())
    writes.append(write(excluded, sizes["_excluded"], "_excluded", "doc_id", "reason"))
    side_by_side(result.clusters.sparkSession, writes)


def _hash_sum(columns: Sequence[str]) -> Column:
    """An order-free digest part: the sum of the rows' 64-bit hashes."""
    return F.sum(F.xxhash64(*columns).cast("decimal(38,0)"))


def summarise(result: DedupResult, params: DedupParams, metrics: Metrics) -> dict[str, int]:
    """Fills metrics in two aggregations; returns the row count of every output (for layout)."""
    decisions = result.decisions
    groups = (
        decisions.groupBy("dataset", "reason")
        .agg(F.count(F.lit(1)).alias("n"), _hash_sum(decisions.columns).alias("h"))
        .collect()  # bounded: datasets x reasons
    )
    per: dict[str, dict] = {n: {"in": 0, "kept": 0, "dropped": {}} for n in result.columns}
    for g in groups:
        entry, n = per[g["dataset"]], g["n"]
        entry["in"] += n
        metrics.rows_in += n
        if g["reason"] is None:
            entry["kept"] += n
            metrics.rows_kept += n
        else:
            entry["dropped"][g["reason"]] = entry["dropped"].get(g["reason"], 0) + n
            metrics.rows_dropped += n
            reasons = metrics.dropped_by_reason
            reasons[g["reason"]] = reasons.get(g["reason"], 0) + n
    clusters = result.clusters
    by_size = (
        clusters.groupBy("dataset", "cluster_size")
        .agg(F.count(F.lit(1)).alias("docs"), _hash_sum(clusters.columns).alias("h"))
        .collect()  # bounded: datasets x distinct cluster sizes
    )
    for entry in per.values():
        entry |= {"clusters": 0, "docs_in_clusters": 0, "candidate_pairs": 0, "verified_pairs": 0}
    for s in by_size:
        per[s["dataset"]]["clusters"] += s["docs"] // s["cluster_size"]
        per[s["dataset"]]["docs_in_clusters"] += s["docs"]
    for name, entry in per.items():
        entry |= result.counts["pairs"].get(name, {})
        entry["dropped"] = dict(sorted(entry["dropped"].items()))
    metrics.dropped_by_reason = dict(sorted(metrics.dropped_by_reason.items()))
    metrics.distributions["cluster_size"] = _size_distribution(
        [(s["cluster_size"], s["docs"] // s["cluster_size"]) for s in by_size]
    )
    parts = sorted(str(r["h"]) for r in [*groups, *by_size])
    metrics.output_digest = digest_of([metrics.rows_in, metrics.rows_kept, *parts])
    c = result.counts
    metrics.extra.update(
        strategy=params.strategy,
        bands=params.bands,
        rows_per_band=params.rows,
        per_dataset=per,
        candidate_pairs=sum(e["candidate_pairs"] for e in per.values()),
        verified_pairs=sum(e["verified_pairs"] for e in per.values()),
        clusters=sum(e["clusters"] for e in per.values()),
        buckets=c["within"],
        component_rounds=c["component_rounds"],
        cross=c.get("cross"),
        removed_by_cross=metrics.dropped_by_reason.get(params.cross_reason, 0),
    )
    sizes = {n: e["kept"] for n, e in per.items()}
    sizes["clusters"] = sum(e["docs_in_clusters"] for e in per.values())
    sizes["_excluded"] = metrics.rows_dropped
    return sizes


def _size_distribution(pairs: list[tuple[int, int]]) -> Distribution:
    """Clusters (of two or more documents) by size: pairs of (size, clusters)."""
    count = sum(n for _, n in pairs)
    if not count:
        return Distribution(histogram=[])
    low, high = min(k for k, _ in pairs), max(k for k, _ in pairs)
    edges = [*CLUSTER_SIZE_EDGES, max(high + 1, CLUSTER_SIZE_EDGES[-1] + 1)]
    histogram = [
        {"lo": float(lo), "hi": float(hi), "count": float(sum(n for k, n in pairs if lo <= k < hi))}
        for lo, hi in zip(edges, edges[1:], strict=False)
    ]
    mean = round(sum(k * n for k, n in pairs) / count, 3)
    return Distribution(count, mean, float(low), float(high), histogram)


def body(spark: SparkSession, args: argparse.Namespace, params: DedupParams, metrics: Metrics):
    if args.input:
        raise BadInput("dedup takes --input-dataset NAME=PATH, not --input")
    result = dedup_datasets(read_inputs(spark, args.input_dataset), params)
    try:
        sizes = summarise(result, params, metrics)
        write_outputs(args.output.rstrip("/"), result, sizes, params.rows_per_file)
    finally:
        result.release()


def build_parser() -> argparse.ArgumentParser:
    parser = arg_parser("Fuzzy dedup (MinHashLSH) within datasets and Common Crawl vs WebText2")
    parser.add_argument(
        "--input-dataset", action="append", default=[], help="NAME=PATH of documents (repeatable)"
    )
    return parser


def main(argv: Sequence[str] | None = None, **session) -> int:
    """`session`: `spark` and `on_error` when run inside the job server (see `run_job`)."""
    return run_job(NAME, DedupParams, body, argv, parser=build_parser(), **session)


if __name__ == "__main__":
    sys.exit(main())
