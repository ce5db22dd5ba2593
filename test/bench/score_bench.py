"""Benchmark (not a test): scoring throughput of the `quality_filter` job, per core.

    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \\
        .venv/bin/python test/bench/score_bench.py --size 16

Generates a mini crawl into a temp dir, turns its WET records (read with warcio) and reference
corpora into documents Parquet, trains the classifier with the `train_classifier` job, then
measures in the same run:
  - baseline: a plain Python loop over the same texts doing what scoring does (Spark-style
    lowercase + split on each whitespace character, hash each token into 2^18 buckets, sparse dot
    product with a weight vector, sigmoid, Pareto keep decision);
  - the quality_filter job in one long-lived `local[1]` session, as the job server runs it: on
    one tiny document twice (a warm-up, then the fixed cost of a stage: model load, Parquet
    writes, metrics), then twice on all documents (the first also pays the JIT, once per
    server); "net" subtracts the fixed cost from the second;
  - the cold start of the same job on the tiny document through its own process (a JVM per job).
Throughput is documents (and MB of text) per second on one core. Prints one JSON object, with
the net ratio on wall time and on CPU time (every thread of the JVM against the loop's process).
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
import time
from pathlib import Path

from bench_common import bench_args, cold_job, generate_mini_crawl, warm_passes
from warcio.archiveiterator import ArchiveIterator

REPO = Path(__file__).resolve().parents[2]
SPARK_JOBS = REPO / "spark-jobs"
sys.path.insert(0, str(SPARK_JOBS))

from spark_jobs import quality_filter  # noqa: E402
from spark_jobs.documents import DOCUMENTS, make_doc_id, write_documents  # noqa: E402
from spark_jobs.quality_filter import keep  # noqa: E402
from spark_jobs.spark_session import ensure_java_home, local_spark  # noqa: E402

REFERENCES = ("webtext2", "books1", "books2", "wikipedia")
WHITESPACE = re.compile(r"\s")


def cc_rows(crawl_dir: Path) -> list[tuple]:
    rows = []
    for path in sorted((crawl_dir / "crawl-data").rglob("*.warc.wet.gz")):
        with open(path, "rb") as stream:
            try:
                for record in ArchiveIterator(stream):
                    if record.rec_type != "conversion":
                        continue
                    record_id = record.rec_headers.get_header("WARC-Record-ID")
                    text = record.content_stream().read().decode("utf-8", "replace")
                    crawl = path.relative_to(crawl_dir).parts[1]
                    rows.append(
                        (make_doc_id("common_crawl", record_id), "common_crawl", crawl)
                        + (None, None, None, text)
                    )
            except Exception:  # noqa: BLE001 - broken files end at their first damage
                continue
    return rows


def write_corpora(root: Path, crawl_dir: Path) -> tuple[list[tuple], list[str]]:
    spark = local_spark("score-bench-setup")
    try:
        cc = cc_rows(crawl_dir)
        write_documents(spark.createDataFrame(cc, DOCUMENTS), str(root / "cc"))
        write_documents(spark.createDataFrame(cc[:1], DOCUMENTS), str(root / "tiny"))
        positives = []
        for name in REFERENCES:
            lines = (crawl_dir / "reference" / name / "part-00000.jsonl").read_text().splitlines()
            docs = [json.loads(line) for line in lines if line]
            rows = [
                (make_doc_id(name, d["id"]), name, None, None, None, None, d["text"]) for d in docs
            ]
            write_documents(spark.createDataFrame(rows, DOCUMENTS), str(root / name))
            positives.append(str(root / name))
    finally:
        spark.stop()
    return cc, positives


def baseline_pass(texts: list[tuple[str, str]], num_features: int = 1 << 18) -> dict:
    """Plain Python: tokenise like Spark's Tokenizer, hash, dot, sigmoid, keep decision."""
    weights = [((i * 2654435761) % 1000) / 1e5 - 0.005 for i in range(num_features)]
    kept = 0
    started, cpu = time.perf_counter(), time.process_time()
    for doc_id, text in texts:
        counts: dict[int, int] = {}
        for token in WHITESPACE.split(text.lower()):
            index = hash(token) % num_features
            counts[index] = counts.get(index, 0) + 1
        margin = sum(weights[i] * n for i, n in counts.items())
        score = 1.0 / (1.0 + math.exp(-max(min(margin, 50.0), -50.0)))
        kept += keep(0, doc_id, score, 9.0)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "docs": len(texts), "kept": kept}


def rate(docs: int, mb: float, seconds: float) -> dict:
    return {
        "seconds": round(seconds, 3),
        "docs_per_s": round(docs / seconds, 1),
        "text_mb_per_s": round(mb / seconds, 3),
    }


def main() -> None:
    args = bench_args(__doc__.splitlines()[0], default_size=16)
    ensure_java_home()
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        root = Path(tmp)
        generate_mini_crawl(root / "mc", args)
        cc, positives = write_corpora(root, root / "mc")
        texts = [(row[0], row[-1]) for row in cc]
        mb = sum(len(t.encode()) for _, t in texts) / 1e6
        train_args = [a for p in positives for a in ("--positives", p)]
        train_args += ["--negatives", str(root / "cc")]
        train = cold_job("train_classifier", train_args, root / "train", "local[2]")
        model = ["--model", str(root / "train" / "out" / "model")]
        baseline = baseline_pass(texts)
        tiny = [*model, "--input", str(root / "tiny")]
        cold = cold_job("quality_filter", tiny, root / "cold")
        everything = [*model, "--input", str(root / "cc")]
        passes = warm_passes("score-bench", quality_filter, tiny, everything, root / "warm")
    startup, first, full = passes["fixed"], passes["first"], passes["full"]
    net = full["seconds"] - startup["seconds"]
    docs = full["metrics"]["rows_in"]
    report = {
        "size": args.size,
        "cc_documents": docs,
        "cc_text_mb": round(mb, 3),
        "train_classifier_local2_seconds": round(train["seconds"], 3),
        "train_metrics": {k: train["metrics"]["extra"][k] for k in ("holdout_auc", "train")},
        "baseline_python_1_core": {**rate(len(texts), mb, baseline["seconds"]), **baseline},
        "cold_job_on_tiny_input_seconds": round(cold["seconds"], 3),
        "warm_stage_fixed_cost_seconds": round(startup["seconds"], 3),
        "quality_filter_local1_first_full_pass_gross": rate(docs, mb, first["seconds"]),
        "quality_filter_local1_gross": {
            **rate(docs, mb, full["seconds"]),
            "job_seconds": full["metrics"]["seconds"],
            "kept": full["metrics"]["rows_kept"],
        },
        "quality_filter_local1_net_of_fixed_cost": rate(docs, mb, net) if net > 0 else None,
        "job_gross_vs_baseline_per_core": round(baseline["seconds"] / full["seconds"], 4),
    }
    if net > 0:
        report["job_net_vs_baseline_per_core"] = round(baseline["seconds"] / net, 4)
    # The JVM's GC and JIT threads work beside the one task thread of `local[1]`.
    net_cpu = full["cpu_seconds"] - startup["cpu_seconds"]
    if net_cpu > 0:
        report["job_net_cpu_seconds"] = round(net_cpu, 3)
        report["job_net_vs_baseline_on_cpu_time"] = round(baseline["cpu_seconds"] / net_cpu, 4)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
