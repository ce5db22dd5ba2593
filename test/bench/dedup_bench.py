"""Benchmark (not a test): how the dedup job's cost grows with the data, beside a peer.

    JAVA_HOME=$(cat .ccmix/java-home) nice -n 10 \\
        .venv/bin/python test/bench/dedup_bench.py --sizes 1,4,16 --mllib-sizes 1,4,16

For each size the mini crawl is generated, turned into documents (Common Crawl through the
extract job's own reader, the reference corpora from their JSONL) and written as stage outputs
with pyarrow. Everything below runs in the same process, one size after the other:
  - the dedup job in one long-lived `local[2]` session, as the job server runs it (net of
    Spark's start-up): first on a tiny input per strategy (four documents per dataset: its
    fixed cost of planning, stages, checkpoints, writes; the lower of a run before the sizes
    and one after them, and the number of Spark jobs the run started, which load on a shared
    machine does not change; each run's CPU seconds and the JIT compilers' part of them, in
    `fixed_cost_cpu`; with `--warm-runs N`, N more tiny runs at the end show how far it falls
    as the JIT settles), then on every size, "banded" (the default) and "mllib"
    (`approxSimilarityJoin`, quadratic: from its third size on, skipped where its own fitted
    exponent projects more than `--mllib-budget` seconds, saying so);
  - a plain-Python pass over the same documents (best of three): Spark's tokenisation into
    token sets, the linear floor any MinHash dedup pays; job times are printed as ratios to it
    and as time per document relative to the same strategy's smallest size;
  - the peer, datatrove's MinHash dedup (`dedup_peer.py`, in its own venv: see
    `requirements-peer.txt`), on the same documents with 2 workers, at its defaults (5-grams,
    14 x 8 hashes) and on unigrams (ccmix's features), its fixed cost also from the tiny input;
    skipped, saying why, when it is not installed.
Quality, for ccmix and the peer alike: planted pairs at Jaccard >= 0.8 (within every dataset)
and Common Crawl pages planted near WebText2; precision counts a found pair (or page) as right
when it is planted or its token-set Jaccard, recomputed here, is >= 0.8, as the tests do.
Cost exponents: least-squares slopes of log(seconds), log(seconds net of the fixed cost) and
log(candidate pairs) against log(documents). Prints a table, then one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from bench_common import Stopwatch, generate_mini_crawl, jit_cpu_seconds, job_server_conf

REPO = Path(__file__).resolve().parents[2]
SPARK_JOBS = REPO / "spark-jobs"
PEER = Path(__file__).resolve().parent / "dedup_peer.py"
PEER_PYTHON = REPO / ".ccmix" / "peer-venv" / "bin" / "python"
sys.path.insert(0, str(SPARK_JOBS))

from spark_jobs import dedup, extract  # noqa: E402
from spark_jobs.documents import ROWS, make_doc_id  # noqa: E402
from spark_jobs.spark_session import ensure_java_home, local_spark  # noqa: E402

REFERENCES = ("webtext2", "books1", "books2", "wikipedia")
COLUMNS = ("doc_id", "dataset", "crawl", "url", "date", "lang", "text")
THRESHOLD = dedup.DedupParams().jaccard_threshold
JAVA_WHITESPACE = re.compile(r"[ \t\n\x0b\f\r]")


def documents(mc: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"common_crawl": []}
    for path in sorted((mc / "crawl-data").rglob("*.warc.wet.gz")):
        for r in extract.extract_file(str(path), path.read_bytes(), extract.ExtractParams()):
            d = dict(zip(ROWS.names, r, strict=True))
            if d["kind"] == "doc":
                out["common_crawl"].append(
                    {c: d.get(c) for c in COLUMNS}
                    | {"dataset": "common_crawl", "text": d["text"].decode()}
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


def tokens(text: str | None) -> frozenset[str]:
    """Spark's Tokenizer: lowercase, split on each Java whitespace char, drop trailing empties."""
    parts = JAVA_WHITESPACE.split(text.lower()) if text else [""]
    while parts and parts[-1] == "":
        parts.pop()
    return frozenset(parts)


def python_pass(docs: dict[str, list[dict]]) -> tuple[float, dict[str, frozenset]]:
    """The same-run baseline: every document's token set, in a plain loop on one core.

    The best of three passes: the cores are shared, and a pass this short is easily preempted.
    """
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        sets = {r["doc_id"]: tokens(r["text"]) for rows in docs.values() for r in rows}
        best = min(best, time.perf_counter() - started)
    return best, sets


def jaccard(pair: tuple[str, str], sets: dict[str, frozenset]) -> float:
    a, b = sets.get(pair[0], frozenset()), sets.get(pair[1], frozenset())
    return len(a & b) / len(a | b) if a | b else 0.0


def score(found: set, near: dict[str, set], truth: tuple[set, set], sets: dict) -> dict:
    """Precision/recall of found pairs and of pages near WebText2 (page -> its matches)."""
    pairs, pages = truth
    right = {p for p in found if p in pairs or jaccard(p, sets) >= THRESHOLD}
    hits = {
        c
        for c, ws in near.items()
        if c in pages or max(jaccard((c, w), sets) for w in ws) >= THRESHOLD
    }

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "planted_pairs": len(pairs),
        "pairs_found": len(found),
        "pair_precision": ratio(len(right), len(found)),
        "pair_recall": ratio(len(found & pairs), len(pairs)),
        "webtext_pages": len(pages),
        "webtext_found": len(near),
        "webtext_precision": ratio(len(hits), len(near)),
        "webtext_recall": ratio(len(set(near) & pages), len(pages)),
    }


def ccmix_found(out: Path) -> tuple[set, dict[str, set]]:
    groups: dict[str, list[str]] = {}
    for r in pq.read_table(out / "clusters").to_pylist():
        groups.setdefault(r["cluster_id"], []).append(r["doc_id"])
    found = {tuple(sorted(p)) for m in groups.values() for p in itertools.combinations(m, 2)}
    excluded = pq.read_table(out / "_excluded").to_pylist()
    near = {r["doc_id"]: {r["detail"]} for r in excluded if r["reason"] == "near_webtext2"}
    return found, near


def run_dedup(spark, specs: list[str], work: Path, params: dict) -> dict:
    """The job in the bench's session (the job server's way): no JVM start."""
    argv = ["--run-id", "bench", "--output", str(work / "out"), "--metrics", str(work / "m.json")]
    argv += ["--params-json", json.dumps(params), *specs]
    # A group of its own (the job server's way), inherited by the job's threads: its Spark jobs
    # are counted, a fixed cost that machine load does not blur.
    spark.sparkContext.setJobGroup(str(work), "dedup bench")
    started = time.perf_counter()
    if dedup.main(argv, spark=spark) != 0:
        raise SystemExit(f"dedup exited non-zero in {work}")
    wall = time.perf_counter() - started
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup(str(work)))
    return {"wall_seconds": wall, "spark_jobs": jobs, **json.loads((work / "m.json").read_text())}


def run_peer(docs: dict[str, list[dict]], work: Path, n_grams: int, workers: int) -> dict:
    """datatrove in its own venv on the same documents, `workers` shards and processes."""
    source = work / "in"
    source.mkdir(parents=True)
    rows = [r for name in docs for r in docs[name]]
    shards = [gzip.open(source / f"shard-{i:05d}.jsonl.gz", "wt") for i in range(workers)]
    for i, r in enumerate(rows):
        record = {"id": r["doc_id"], "text": r["text"] or "", "metadata": {"dataset": r["dataset"]}}
        shards[i % workers].write(json.dumps(record) + "\n")
    for shard in shards:
        shard.close()
    argv = [str(PEER_PYTHON), str(PEER), "--input", str(source), "--work", str(work / "run")]
    argv += ["--n-grams", str(n_grams), "--workers", str(workers)]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"peer exited {done.returncode}:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    members: dict[int, list[str]] = {}
    for line in Path(report["clusters"]).read_text().splitlines():
        d = json.loads(line)
        members.setdefault(d["cluster"], []).append(d["id"])
    dataset = {r["doc_id"]: r["dataset"] for r in rows}
    found, near = set(), {}
    for ids in members.values():
        for a, b in itertools.combinations(sorted(set(ids)), 2):
            if dataset[a] == dataset[b]:
                found.add((a, b))
        webtext = {i for i in ids if dataset[i] == "webtext2"}
        for i in ids:
            if webtext and dataset[i] == "common_crawl":
                near[i] = webtext
    return {"seconds": report["seconds"], "wall_seconds": wall, "found": found, "near": near}


def peer_missing() -> str | None:
    if not PEER_PYTHON.exists():
        return (
            f"peer skipped: no {PEER_PYTHON.relative_to(REPO)} (python3 -m venv "
            ".ccmix/peer-venv && .ccmix/peer-venv/bin/pip install -r "
            "test/bench/requirements-peer.txt)"
        )
    check = [str(PEER_PYTHON), "-c", "import datatrove.pipeline.dedup.minhash"]
    done = subprocess.run(check, capture_output=True, text=True)
    if done.returncode != 0:
        return f"peer skipped: datatrove does not import: {done.stderr.strip().splitlines()[-1]}"
    return None


def slope(xs: list[float], ys: list[float]) -> float | None:
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return round(sum((p[0] - mx) * (p[1] - my) for p in pts) / den, 3) if den else None


def mllib_projection(rows: list[dict], docs: int, fixed: float) -> float | None:
    """Seconds mllib would take on `docs`: its fixed cost + its net time at its own exponent.

    The exponent is fitted on its net times so far, at least 1; None (run it) before two runs.
    """
    if len(rows) < 2:
        return None
    net = [max(r["job_seconds"] - fixed, 1e-3) for r in rows]
    exponent = slope([r["documents"] for r in rows], net) or 2.0
    return fixed + net[-1] * (docs / rows[-1]["documents"]) ** max(exponent, 1.0)


def tiny(docs: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Four documents per dataset: what a run costs whatever its data."""
    return {name: rows[:4] for name, rows in docs.items()}


def fixed_costs(
    spark, small: dict[str, list[dict]], specs: list[str], root: Path, extra: dict, grams
) -> tuple[dict, dict]:
    """Seconds of a run on `small` (`tiny`), per strategy and peer, after a warm-up run; and per
    strategy the Spark jobs its run started, its CPU seconds (this process, the JVM and its
    workers) and the part the JIT's compilers used, which on two cores take turns with the run.
    specs: `small` as stage outputs (`write_inputs`), for the job; the peer takes `small`."""
    out, runs = {}, {}
    for strategy in ("banded", "mllib"):
        params = {**extra, "strategy": strategy}
        run_dedup(spark, specs, root / f"warmup-{strategy}", params)
        runs[strategy] = measured_run(spark, specs, root / f"tiny-{strategy}", params)
        out[strategy] = runs[strategy].pop("seconds")
    for g in grams:
        out[f"datatrove_{g}gram"] = run_peer(small, root / f"peer-{g}", g, workers=2)["seconds"]
    return out, runs


def measured_run(spark, specs: list[str], work: Path, params: dict) -> dict:
    """One run's seconds (the job's own), Spark jobs, CPU seconds (this process, the JVM and its
    workers) and the part of them the JIT's compilers used."""
    jvm = spark._jvm.java.lang.ProcessHandle.current().pid()
    jit, clock = jit_cpu_seconds(jvm), Stopwatch()
    run = run_dedup(spark, specs, work, params)
    used = clock.figures()
    return {
        "seconds": run["seconds"],
        "spark_jobs": run["spark_jobs"],
        "cpu_seconds": round(used["cpu_seconds"], 3),
        "jit_cpu_seconds": round(jit_cpu_seconds(jvm) - jit, 3),
    }


def warm_runs(spark, specs: list[str], root: Path, extra: dict, count: int) -> dict:
    """`count` more banded runs on the tiny input, one after the other: how far the fixed cost falls
    as the JIT settles (it is still compiling Spark's own code dozens of runs into a session).
    The median of the last ten is the session's warmest fixed cost."""
    params = {**extra, "strategy": "banded"}
    runs = [measured_run(spark, specs, root / f"warm-{i}", params) for i in range(count)]
    last = statistics.median(r["seconds"] for r in runs[-10:])
    return {"last_ten_median_seconds": round(last, 3), "runs": runs}


def ccmix_row(size: int, n: int, metrics: dict, quality: dict) -> dict:
    x = metrics["extra"]
    return {
        "size": size,
        "documents": n,
        "job_seconds": round(metrics["seconds"], 3),
        "candidate_pairs": x["candidate_pairs"] + (x["cross"] or {}).get("candidate_pairs", 0),
        "verified_pairs": x["verified_pairs"] + (x["cross"] or {}).get("verified_pairs", 0),
        "or_candidate_pairs": x["buckets"].get("or_candidate_pairs"),
        "largest_bucket": x["buckets"].get("largest_bucket"),
        "capped_buckets": x["buckets"].get("capped_buckets"),
        "component_rounds": x["component_rounds"],
        **quality,
    }


def exponents(rows: list[dict], keys: tuple[str, ...]) -> dict:
    docs_n = [r["documents"] for r in rows]
    return {k: slope(docs_n, [r[k] or 0 for r in rows]) for k in keys}


def table(report: dict) -> str:
    head = (
        f"{'run':<14}{'size':>5}{'docs':>7}{'seconds':>9}{'net':>8}{'x py':>7}{'/doc vs 1st':>12}"
    )
    head += f"{'cand':>9}{'verif':>7}{'pair P/R':>17}{'webtext P/R':>17}"
    lines = [head]
    for name, rows in report["runs"].items():
        for r in rows:
            pr = f"{r['pair_precision']}/{r['pair_recall']}"
            wt = f"{r['webtext_precision']}/{r['webtext_recall']}"
            lines.append(
                f"{name:<14}{r['size']:>5}{r['documents']:>7}{r['job_seconds']:>9.1f}"
                f"{r.get('net_seconds') or 0:>8.1f}{r['vs_python_pass']:>7.0f}"
                f"{r['per_doc_vs_first']:>12.2f}{r.get('candidate_pairs') or 0:>9}"
                f"{r.get('verified_pairs') or 0:>7}{pr:>17}{wt:>17}"
            )
    for name, e in report["exponents"].items():
        lines.append(f"exponent {name}: " + ", ".join(f"{k} {v}" for k, v in e.items()))
    if report["warm_runs"]:
        seconds = [r["seconds"] for r in report["warm_runs"]["runs"]]
        lines.append(
            f"{len(seconds)} warm tiny runs (s): first {seconds[0]:.2f}, last {seconds[-1]:.2f},"
            f" median of the last ten {report['warm_runs']['last_ten_median_seconds']:.2f}"
        )
    lines += report["skipped"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--mllib-sizes", default="1,4,16", help="skipped past --mllib-budget")
    parser.add_argument("--mllib-budget", type=float, default=600.0, help="projected seconds")
    parser.add_argument("--peer-ngrams", default="5,1", help="datatrove n-gram sizes; '' = none")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crawls", default="CC-MAIN-2019-04,CC-MAIN-2019-09")
    parser.add_argument("--params-json", default="{}", help="extra dedup params for both")
    parser.add_argument("--shuffle-partitions", type=int, default=0, help="0: the server's")
    parser.add_argument("--warm-runs", type=int, default=0, help="tiny banded runs at the end")
    args = parser.parse_args()
    ensure_java_home()
    extra = json.loads(args.params_json)
    sizes = [int(s) for s in args.sizes.split(",")]
    mllib_sizes = {int(s) for s in args.mllib_sizes.split(",") if s}
    grams = [int(g) for g in args.peer_ngrams.split(",") if g]
    skipped = [reason] if grams and (reason := peer_missing()) else []
    if skipped:
        grams = []
    runs: dict[str, list[dict]] = {"banded": [], "mllib": []}
    runs |= {f"datatrove_{g}gram": [] for g in grams}
    fixed: dict[str, float] = {}
    fixed_runs: dict[str, dict] = {}
    warm: dict = {}
    small: dict[str, list[dict]] = {}
    small_specs: list[str] = []
    # Python workers import spark_jobs too (the job server gets it from its PYTHONPATH).
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(SPARK_JOBS), os.environ.get("PYTHONPATH")])
    )
    # The job server's settings (core/spark/conf.ts: one shuffle partition per core, no adaptive
    # execution), with the job server's memory: the bench's own earlier settings (8 partitions,
    # adaptive execution) made a tiny run's fixed cost about 4 s more than on the server.
    conf = {**job_server_conf("local[2]"), "spark.driver.memory": "4g"}
    if args.shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(args.shuffle_partitions)
    spark = local_spark("dedup-bench", master="local[2]", conf=conf)
    try:
        with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
            for size in sizes:
                root = Path(tmp) / f"x{size}"
                mc = generate_mini_crawl(root / "mc", argparse.Namespace(**vars(args), size=size))
                docs = documents(mc)
                specs = write_inputs(docs, root / "in")
                present = {r["doc_id"] for r in docs["common_crawl"]}
                truth = planted(mc, present)
                n = sum(len(v) for v in docs.values())
                base_seconds, sets = python_pass(docs)
                if not fixed:  # the first size's tiny input: warm-up, then the fixed cost
                    small = tiny(docs)
                    small_specs = write_inputs(small, Path(tmp) / "tiny-in")
                    before = Path(tmp) / "tiny-before"
                    fixed, fixed_runs["before"] = fixed_costs(
                        spark, small, small_specs, before, extra, grams
                    )
                for strategy in ("banded", "mllib"):
                    if strategy == "mllib" and size not in mllib_sizes:
                        continue
                    projected = (
                        mllib_projection(runs["mllib"], n, fixed["mllib"])
                        if strategy == "mllib"
                        else None
                    )
                    if projected and projected > args.mllib_budget:
                        skipped.append(
                            f"mllib skipped at {size}x ({n} documents): its own runs project "
                            f"{projected:.0f} s, over the {args.mllib_budget:.0f} s budget"
                        )
                        continue
                    work = root / strategy
                    metrics = run_dedup(spark, specs, work, {**extra, "strategy": strategy})
                    quality = score(*ccmix_found(work / "out"), truth, sets)
                    row = ccmix_row(size, n, metrics, quality)
                    row["python_pass_seconds"] = round(base_seconds, 3)
                    runs[strategy].append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                for g in grams:
                    peer = run_peer(docs, root / f"peer-{g}", g, workers=2)
                    row = {"size": size, "documents": n, "job_seconds": round(peer["seconds"], 3)}
                    row["python_pass_seconds"] = round(base_seconds, 3)
                    row |= score(peer["found"], peer["near"], truth, sets)
                    runs[f"datatrove_{g}gram"].append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
            # Again after every size: the lower of the two is the fixed cost (shared cores).
            after, fixed_runs["after"] = fixed_costs(
                spark, small, small_specs, Path(tmp) / "tiny-after", extra, grams
            )
            fixed = {k: round(min(v, after[k]), 3) for k, v in fixed.items()}
            if args.warm_runs:
                warm = warm_runs(spark, small_specs, Path(tmp) / "warm", extra, args.warm_runs)
    finally:
        spark.stop()
    for name, rows in runs.items():
        for r in rows:
            r["net_seconds"] = round(r["job_seconds"] - fixed[name], 3)
            r["vs_python_pass"] = round(r["job_seconds"] / r["python_pass_seconds"], 1)
            first = rows[0]["job_seconds"] / rows[0]["documents"]
            r["per_doc_vs_first"] = round(r["job_seconds"] / r["documents"] / first, 3)
    report: dict = {
        "params": extra,
        "crawls": args.crawls,
        "shuffle_partitions": int(conf["spark.sql.shuffle.partitions"]),
        "fixed_cost_seconds": fixed,
        "fixed_cost_spark_jobs": {k: r["spark_jobs"] for k, r in fixed_runs["before"].items()},
        "fixed_cost_cpu": fixed_runs,
        "warm_runs": warm,
        "runs": {k: v for k, v in runs.items() if v},
        "skipped": skipped,
        "exponents": {},
    }
    for name, rows in report["runs"].items():
        keys = ("job_seconds", "net_seconds")
        if name in ("banded", "mllib"):
            keys += ("candidate_pairs", "verified_pairs")
        if name == "mllib":
            keys += ("or_candidate_pairs",)
        report["exponents"][name] = exponents(rows, keys)
    print(table(report))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
