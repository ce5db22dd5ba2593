"""The peer for dedup_bench.py: datatrove's four-stage MinHash dedup, run in its own venv.

    .ccmix/peer-venv/bin/python test/bench/dedup_peer.py --input DIR --work DIR [--n-grams 5]

`--input` holds `shard-NNNNN.jsonl.gz` files of {"id", "text", "metadata": {"dataset"}}, one
per task. Runs datatrove's signature, buckets, cluster and filter stages as its docs show
(MinhashConfig defaults: 14 buckets x 8 hashes, 64-bit xxhash, seed 1; English word
tokenizer), `--workers` processes at a time, and writes the kept and the removed documents
(`kept/`, `removed/`). Prints one JSON object: seconds for the four stages and `clusters`, a
JSONL file of {"id", "cluster"} for every document in a cluster of two or more.
Imports nothing from ccmix: it must run where pyspark is not installed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import struct
import time
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter


def run(source: Path, work: Path, n_grams: int, workers: int) -> float:
    tasks = len(list(source.glob("shard-*.jsonl.gz")))
    config = MinhashConfig(n_grams=n_grams)

    def reader() -> JsonlReader:
        return JsonlReader(str(source), glob_pattern="shard-*.jsonl.gz", shuffle_files=False)

    stages = [
        ([reader(), MinhashDedupSignature(str(work / "sigs"), config)], tasks),
        ([MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=config)], None),
        ([MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config, True)], 1),
        (
            [
                reader(),
                MinhashDedupFilter(
                    str(work / "remove"),
                    exclusion_writer=JsonlWriter(str(work / "removed")),
                ),
                JsonlWriter(str(work / "kept")),
            ],
            tasks,
        ),
    ]
    started = time.perf_counter()
    for i, (pipeline, n) in enumerate(stages):
        LocalPipelineExecutor(
            pipeline,
            tasks=n or config.num_buckets,
            workers=min(workers, n or config.num_buckets),
            logging_dir=str(work / "logs" / f"stage{i + 1}"),
        ).run()
    return time.perf_counter() - started


def clusters(source: Path, work: Path, out: Path) -> int:
    """{"id", "cluster"} per clustered document, from the cluster stage's `NNNNNN.clusters`.

    Those map (task, position in the task's input) to a cluster id; the filter stage passes a
    task's documents through without their ids when that task has nothing to remove.
    """
    written = 0
    with out.open("w") as sink:
        for rank, shard in enumerate(sorted(source.glob("shard-*.jsonl.gz"))):
            path = work / "remove" / f"{rank:06d}.clusters"
            if not path.exists():
                continue
            with gzip.open(shard, "rt") as lines:
                ids = [json.loads(line)["id"] for line in lines]
            pairs = struct.iter_unpack("<2I", path.read_bytes())
            for position, cluster in pairs:
                sink.write(json.dumps({"id": ids[position], "cluster": cluster}) + "\n")
                written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--n-grams", type=int, default=MinhashConfig().n_grams)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    seconds = run(args.input, args.work, args.n_grams, args.workers)
    out = args.work / "clusters.jsonl"
    docs = clusters(args.input, args.work, out)
    print(
        json.dumps({"seconds": round(seconds, 3), "clusters": str(out), "docs_in_clusters": docs})
    )


if __name__ == "__main__":
    main()
