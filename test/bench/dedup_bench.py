"""Benchmark (not a test): how the dedup job's cost grows with the data, banded vs mllib.

    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \\
        .venv/bin/python test/bench/dedup_bench.py --sizes 1,4,16 --mllib-sizes 1,4

For each size the mini crawl is generated, turned into documents (Common Crawl through the
extract job's own reader, the reference corpora from their JSONL) and written as stage outputs
with pyarrow; then `python -m spark_jobs.dedup` runs as a subprocess on `local[2]`, once per
strategy. Reported per run: wall seconds, the job's own seconds, documents, candidate and
verified pairs, the largest bucket, and precision/recall of the planted pairs above the
threshold (cluster pairs vs the ground truth; Common Crawl pages near WebText2 by page).
The cost exponent is the least-squares slope of log(job seconds) and of log(candidate pairs)
against log(documents). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from bench_common import generate_mini_crawl

REPO = Path(__file__).resolve().parents[2]
SPARK_JOBS = REPO / "spark-jobs"
sys.path.insert(0, str(SPARK_JOBS))

from spark_jobs import extract  # noqa: E402
from spark_jobs.documents import ROWS, make_doc_id  # noqa: E402
from spark_jobs.spark_session import ensure_java_home  # noqa: E402

REFERENCES = ("webtext2", "books1", "books2", "wikipedia")
COLUMNS = ("doc_id", "dataset", "crawl", "url", "date", "lang", "text")
THRESHOLD = 0.8


def documents(mc: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"common_crawl": []}
    for path in sorted((mc / "crawl-data").rglob("*.warc.wet.gz")):
        for r in extract.extract_file(str(path), path.read_bytes(), extract.ExtractParams()):
            d = dict(zip(ROWS.names, r, strict=True))
            if d["kind"] == "doc":
                out["common_crawl"].append(
                    {c: d.get(c) for c in COLUMNS} | {"dataset": "common_crawl"}
                )
    for name in REFERENCES:
        lines = (mc / "reference" / name / "part-00000.jsonl").read_text().splitlines()
        out[name] = [
            {c: None for c in COLUMNS}
            | {"doc_id": make_doc_id(name, r["id"]), "dataset": name}
            | {"text": r["text"]}
            for r in map(json.loads, lines)
        ]
    return out


def write_inputs(docs: dict[str, list[dict]], root: Path) -> list[str]:
    specs = []
    for name, rows in docs.items():
        folder = root / name / "kind=doc"
        folder.mkdir(parents=True)
        table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in COLUMNS})
        pq.write_table(table, folder / "part-00000.parquet")
        specs.append(f"--input-dataset={name}={root / name}")
    return specs


def planted(mc: Path, present: set[str]) -> tuple[set, set]:
    """(pairs within datasets, Common Crawl pages near WebText2) planted at J >= threshold."""
    truth = [json.loads(x) for x in (mc / "ground-truth" / "documents.jsonl").open()]
    refs = [json.loads(x) for x in (mc / "ground-truth" / "reference.jsonl").open()]
    pairs, pages = set(), set()
    for t in truth:
        if t["dup_of"] is None or (t["actual_jaccard"] or 0) < THRESHOLD:
            continue
        a = make_doc_id("common_crawl", t["record_id"])
        if t["dup_scope"] == "webtext":
            if a in present:
                pages.add(a)
            continue
        b = make_doc_id("common_crawl", t["dup_of"])
        if a in present and b in present:
            pairs.add(tuple(sorted((a, b))))
    for r in refs:
        if r["dup_of"] is not None and r["actual_jaccard"] >= THRESHOLD:
            pairs.add(tuple(sorted(make_doc_id(r["dataset"], i) for i in (r["id"], r["dup_of"]))))
    return pairs, pages


def run_job(specs: list[str], work: Path, params: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SPARK_JOBS), "PYSPARK_PYTHON": sys.executable}
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    argv = [sys.executable, "-m", "spark_jobs.dedup", "--master", "local[2]", "--run-id", "bench"]
    argv += ["--output", str(work / "out"), "--metrics", str(work / "metrics.json")]
    argv += ["--params-json", json.dumps(params), *specs]
    started = time.perf_counter()
    subprocess.run(argv, cwd=SPARK_JOBS, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    return {"wall_seconds": round(wall, 3), **json.loads((work / "metrics.json").read_text())}


def quality(out: Path, truth: tuple[set, set]) -> dict:
    pairs, pages = truth
    groups: dict[str, list[str]] = {}
    for part in sorted((out / "clusters").glob("*.parquet")):
        for r in pq.read_table(part).to_pylist():
            groups.setdefault(r["cluster_id"], []).append(r["doc_id"])
    found = {tuple(sorted(p)) for m in groups.values() for p in itertools.combinations(m, 2)}
    near = set()
    for part in sorted((out / "_excluded").glob("*.parquet")):
        near |= {
            r["doc_id"] for r in pq.read_table(part).to_pylist() if r["reason"] == "near_webtext2"
        }
    return {
        "planted_pairs": len(pairs),
        "pair_recall": round(len(found & pairs) / len(pairs), 4) if pairs else None,
        "pairs_found": len(found),
        "webtext_pages": len(pages),
        "webtext_recall": round(len(near & pages) / len(pages), 4) if pages else None,
        "webtext_found": len(near),
    }


def slope(xs: list[float], ys: list[float]) -> float | None:
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return round(sum((p[0] - mx) * (p[1] - my) for p in pts) / den, 3) if den else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--mllib-sizes", default="1,4", help="mllib is quadratic: keep it small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crawls", default="CC-MAIN-2019-04,CC-MAIN-2019-09")
    parser.add_argument("--params-json", default="{}", help="extra dedup params for both")
    args = parser.parse_args()
    ensure_java_home()
    extra = json.loads(args.params_json)
    sizes = [int(s) for s in args.sizes.split(",")]
    mllib_sizes = {int(s) for s in args.mllib_sizes.split(",") if s}
    runs: dict[str, list[dict]] = {"banded": [], "mllib": []}
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        for size in sizes:
            root = Path(tmp) / f"x{size}"
            mc = generate_mini_crawl(root / "mc", argparse.Namespace(**vars(args), size=size))
            docs = documents(mc)
            specs = write_inputs(docs, root / "in")
            present = {r["doc_id"] for r in docs["common_crawl"]}
            truth = planted(mc, present)
            n = sum(len(v) for v in docs.values())
            for strategy in ("banded", "mllib"):
                if strategy == "mllib" and size not in mllib_sizes:
                    continue
                work = root / strategy
                metrics = run_job(specs, work, {**extra, "strategy": strategy})
                x = metrics["extra"]
                runs[strategy].append(
                    {
                        "size": size,
                        "documents": n,
                        "wall_seconds": metrics["wall_seconds"],
                        "job_seconds": metrics["seconds"],
                        "candidate_pairs": x["candidate_pairs"]
                        + (x["cross"] or {}).get("candidate_pairs", 0),
                        "or_candidate_pairs": x["buckets"].get("or_candidate_pairs"),
                        "verified_pairs": x["verified_pairs"],
                        "largest_bucket": x["buckets"].get("largest_bucket"),
                        "capped_buckets": x["buckets"].get("capped_buckets"),
                        "dropped_by_reason": metrics["dropped_by_reason"],
                        **quality(work / "out", truth),
                    }
                )
                print(json.dumps(runs[strategy][-1]), file=sys.stderr, flush=True)
    report: dict = {"params": extra, "runs": runs, "exponents": {}}
    for strategy, rows in runs.items():
        docs_n = [r["documents"] for r in rows]
        report["exponents"][strategy] = {
            "job_seconds": slope(docs_n, [r["job_seconds"] for r in rows]),
            "candidate_pairs": slope(docs_n, [r["candidate_pairs"] for r in rows]),
        }
        if strategy == "mllib":
            ors = [r["or_candidate_pairs"] or 0 for r in rows]
            report["exponents"][strategy]["or_candidate_pairs"] = slope(docs_n, ors)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
