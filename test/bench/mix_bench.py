"""Benchmark (not a test): tokenize + pack throughput of the `mix` job against plain tiktoken.

    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 .venv/bin/python test/bench/mix_bench.py --mb 16

Documents: the real books in ../shared/data/books cut into ~4 KB passages (synthetic words when
absent), repeated with a numbered prefix until --mb MB of UTF-8. Measured in the same run:
  - plain tiktoken: `encode_ordinary` of every document in one Python process (one core);
  - the mix job in one long-lived `local[1]` session (one task thread), as the job server runs it,
    on those documents as one source, planned to take exactly one epoch: read, tokenize (Arrow
    batches), seeded order, offsets, pack, interleave, write Parquet, read back. First on a tiny
    input (the fixed cost of a stage), then twice on all documents (the first pass also pays the
    JIT, once per server); "net" subtracts the tiny run from the second pass. Subtracting two cold
    JVM runs instead varied by more than the tokenization takes. Then --rounds rounds of plain
    tiktoken, the tiny input and all documents one after another, each with its own ratio: on a
    shared machine a burst of load skews one round, and the median of the rounds sets it aside;
  - the npm tokenizer (core/tokenizer.ts, WASM) on the same documents in one Node process.
Throughput is MB (10^6 bytes of UTF-8 text) per second per core. Prints one JSON object with the
ratio job / plain tiktoken (target >= 0.7): the first pass's and the median of the rounds'. Each
round also has the ratio on CPU seconds (`ratio_net_cpu`: every process of the job, the JVM's
threads and the Python workers included, against the peer's): one task slot of `local[1]` keeps
more than one core busy while the JVM feeds the tokenizing Python worker. The JIT compilers' part
of the tiny and the full run's CPU seconds is beside them (`fixed_jit_cpu`, `full_jit_cpu`).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from bench_common import SHARED_DATA, round_ratios, warm_passes

REPO = Path(__file__).resolve().parents[2]
SPARK_JOBS = REPO / "spark-jobs"
sys.path.insert(0, str(SPARK_JOBS))

from spark_jobs import mix  # noqa: E402
from spark_jobs.spark_session import ensure_java_home  # noqa: E402
from spark_jobs.tokenizer import gpt2_encoding  # noqa: E402

NODE_SCRIPT = """
const fs = require('node:fs');
const tok = require(process.argv[1]);
const texts = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
tok.gpt2Encode('');
const start = process.hrtime.bigint();
let ids = 0;
for (const t of texts) ids += tok.gpt2Encode(t).length;
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
tok.freeGpt2();
process.stdout.write(JSON.stringify({ seconds, ids }));
"""


def passages(mb: float) -> list[str]:
    books = sorted((SHARED_DATA / "books").glob("*.txt")) if SHARED_DATA.is_dir() else []
    base: list[str] = []
    for path in books:
        text = path.read_bytes().decode("utf-8", errors="replace")
        base += [text[i : i + 4000] for i in range(0, len(text), 4000)]
    if not base:
        rng = random.Random(0)
        words = "the of and a to in is was he for it with as his on be at by this had".split()
        base = [" ".join(rng.choices(words, k=800)) for _ in range(500)]
    docs, size, i = [], 0, 0
    while size < mb * 1e6:
        doc = f"[{i}] {base[i % len(base)]}"
        docs.append(doc)
        size += len(doc.encode())
        i += 1
    return docs


def write_docs(folder: Path, docs: list[str]) -> Path:
    """A deduped-documents folder as `documents.read_documents` reads it (`kind=doc/`)."""
    (folder / "kind=doc").mkdir(parents=True)
    ids = [f"bench-{i:08d}" for i in range(len(docs))]
    pq.write_table(pa.table({"doc_id": ids, "text": docs}), folder / "kind=doc" / "part-0.parquet")
    return folder


def mix_args(docs_dir: Path, rows: int) -> list[str]:
    """One source, planned to take exactly `rows` rows (one epoch of the full input)."""
    params = {"seed": 1, "n_ctx": 2048, "rows_per_file": 50_000}
    params["sources"] = {"bench": {"target_rows": rows, "weight": 1.0}}
    return ["--input-dataset", f"bench={docs_dir}", "--params-json", json.dumps(params)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=16.0)
    parser.add_argument("--rounds", type=int, default=3, help="peer, tiny, full; median ratio")
    args = parser.parse_args()
    ensure_java_home()
    docs = passages(args.mb)
    mb = sum(len(d.encode()) for d in docs) / 1e6
    enc = gpt2_encoding()

    def plain_tiktoken() -> int:
        """The peer: every document encoded in this process; its ids and separators counted."""
        return sum(len(enc.encode_ordinary(d)) + 1 for d in docs)

    started = time.perf_counter()
    tokens = plain_tiktoken()
    plain = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="mix-bench-") as tmp:
        root = Path(tmp)
        texts = root / "texts.json"
        texts.write_text(json.dumps(docs))
        node = subprocess.run(
            ["node", "-e", NODE_SCRIPT, str(REPO / "dist" / "core" / "tokenizer.js"), str(texts)],
            check=True,
            capture_output=True,
            text=True,
        )
        npm = json.loads(node.stdout)
        tiny = write_docs(root / "tiny", ["hello world " * 2000])
        docs_dir = write_docs(root / "docs", docs)
        tiny_args = mix_args(tiny, 1)
        full_args = mix_args(docs_dir, tokens // 2048)
        passes = warm_passes(
            "mix-bench", mix, tiny_args, full_args, root / "warm", plain_tiktoken, args.rounds
        )
    fixed, first, full = (passes[k]["seconds"] for k in ("fixed", "first", "full"))
    net = full - fixed
    rounds, median_wall, median_cpu = round_ratios(passes["rounds"], digits=3)
    report = {
        "documents": len(docs),
        "text_mb": round(mb, 3),
        "tokens": tokens,
        "plain_tiktoken_1_core": {"seconds": round(plain, 3), "mb_per_s": round(mb / plain, 3)},
        "npm_tiktoken_1_core": {
            "seconds": round(npm["seconds"], 3),
            "mb_per_s": round(mb / npm["seconds"], 3),
        },
        "warm_stage_fixed_cost_seconds": round(fixed, 3),
        "mix_job_local1_first_full_pass_gross": {
            "seconds": round(first, 3),
            "mb_per_s": round(mb / first, 3),
        },
        "mix_job_local1_gross": {"seconds": round(full, 3), "mb_per_s": round(mb / full, 3)},
        "mix_job_local1_net": {"seconds": round(net, 3), "mb_per_s": round(mb / net, 3)}
        if net > 0
        else None,
        "ratio_net_vs_plain_tiktoken": round(plain / net, 3) if net > 0 else None,
        "ratio_gross_vs_plain_tiktoken": round(plain / full, 3),
        "rounds_plain_fixed_full": rounds,
        "median_ratio_net_of_rounds": median_wall,
        "median_ratio_net_cpu_of_rounds": median_cpu,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
