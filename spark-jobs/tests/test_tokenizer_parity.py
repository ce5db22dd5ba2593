"""Python (tiktoken + exported ranks) and Node (npm tiktoken) give identical GPT-2 ids.

The ranks are exported afresh into a temp dir by the compiled infra/gpt2-ranks.js, and the Node
side runs the compiled core/tokenizer.js. Texts travel as files read as bytes on both sides, so
no newline translation can change them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken

from spark_jobs.mix_pack import encode_texts
from spark_jobs.tokenizer import GPT2_EOT, GPT2_N_VOCAB, encode_document, gpt2_encoding

SYNTHETIC = {
    "ascii": b"Hello, world! It's 2020: GPT-3 has 175B parameters.\n  Indented   spaces\t\ttabs\n",
    "crlf": b"line one\r\nline two\r\n\r\nlast line without newline",
    "lone_cr": b"old mac\rline\r",
    "unicode": "naïve café — “quotes” … Ελληνικά русский العربية हिन्दी".encode(),
    "emoji": "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 zwj ‍ end".encode(),
    "cjk": "日本語のテキスト、中文文本，한국어 텍스트。".encode(),
    "eot_literal": b"before<|endoftext|>after <|endoftext|> and <|endoftext|>",
    "eot_partial": b"<|endoftext| <|endof <|endoftext|>|>",
    "whitespace": b"   \n\n\n   \t \r\n ",
    "digits": b"3.14159265358979 1,000,000 0x7fffffff",
    "empty": b"",
}

# Reads every case file as bytes, decodes UTF-8, encodes it three ways, times the encoding.
NODE_SCRIPT = """
const fs = require('node:fs');
const tok = require(process.argv[1]);
const paths = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const texts = paths.map((p) => fs.readFileSync(p).toString('utf8'));
tok.gpt2Encode(''); // load the WASM encoder outside the timed loop
const start = process.hrtime.bigint();
const ordinary = texts.map((t) => tok.gpt2Encode(t));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const special = texts.map((t) => tok.gpt2Encode(t, { allowSpecial: true }));
const document = texts.map((t) => tok.gpt2EncodeDocument(t));
tok.freeGpt2();
fs.writeFileSync(process.argv[3], JSON.stringify({ ordinary, special, document, seconds }));
"""


def _newest_mtime(paths: list[Path]) -> float:
    return max(p.stat().st_mtime for p in paths if p.exists())


@pytest.fixture(scope="module")
def dist(repo_root: Path) -> Path:
    """The compiled TypeScript, rebuilt when missing or older than its sources.

    tsc emits despite type errors elsewhere in the tree (other work in progress), so only missing
    outputs fail here; the type check itself belongs to the build and lint steps.
    """
    sources = [repo_root / "core" / "tokenizer.ts", repo_root / "infra" / "gpt2-ranks.ts"]
    built = [repo_root / "dist" / p.with_suffix(".js").relative_to(repo_root) for p in sources]
    if all(b.exists() for b in built) and _newest_mtime(sources) <= min(
        b.stat().st_mtime for b in built
    ):
        return repo_root / "dist"
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx not found: Node is needed to build core/tokenizer.ts")
    proc = subprocess.run(
        [npx, "tsc", "-p", "tsconfig.json"], cwd=repo_root, capture_output=True, text=True
    )
    if not all(b.exists() for b in built):
        pytest.fail(f"npx tsc -p tsconfig.json emitted no {built}:\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        warnings.warn(f"npx tsc -p tsconfig.json exited {proc.returncode}", stacklevel=1)
    for b in built:  # an incremental build leaves unchanged outputs untouched
        os.utime(b)
    return repo_root / "dist"


@pytest.fixture(scope="module")
def enc(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> tiktoken.Encoding:
    out = tmp_path_factory.mktemp("ranks") / "gpt2.tiktoken"
    subprocess.run(["node", str(dist / "infra" / "gpt2-ranks.js"), "--out", str(out)], check=True)
    return gpt2_encoding(str(out))


def _wet_bodies(shared_data: Path) -> Iterator[tuple[str, bytes]]:
    from warcio.archiveiterator import ArchiveIterator

    for path in sorted((shared_data / "wet").glob("*.wet*")):
        with path.open("rb") as f:
            for i, record in enumerate(ArchiveIterator(f)):
                if record.rec_type == "conversion":
                    yield f"{path.name}#{i}", record.content_stream().read()


def _node_encode(dist: Path, tmp: Path, cases: dict[str, bytes]) -> dict:
    paths = []
    for i, data in enumerate(cases.values()):
        path = tmp / f"case-{i:05d}.txt"
        path.write_bytes(data)
        paths.append(str(path))
    manifest, out = tmp / "manifest.json", tmp / "node-ids.json"
    manifest.write_text(json.dumps(paths))
    tokenizer_js = str(dist / "core" / "tokenizer.js")
    subprocess.run(["node", "-e", NODE_SCRIPT, tokenizer_js, str(manifest), str(out)], check=True)
    return json.loads(out.read_bytes())


def _assert_parity(enc: tiktoken.Encoding, dist: Path, tmp: Path, cases: dict[str, bytes]) -> None:
    node = _node_encode(dist, tmp, cases)
    texts = [data.decode("utf-8", errors="replace") for data in cases.values()]
    start = time.perf_counter()
    ordinary = [enc.encode_ordinary(t) for t in texts]
    py_seconds = time.perf_counter() - start
    for name, text, py_ids, node_ids in zip(cases, texts, ordinary, node["ordinary"], strict=True):
        assert py_ids == node_ids, f"ordinary ids differ for {name}"
        assert enc.decode_bytes(py_ids) == text.encode()
    for name, text, node_ids in zip(cases, texts, node["special"], strict=True):
        assert enc.encode(text, allowed_special="all") == node_ids, f"special ids differ: {name}"
    for name, text, node_ids in zip(cases, texts, node["document"], strict=True):
        assert encode_document(enc, text) == node_ids, f"document ids differ for {name}"
    # The mix job's own path (numpy buffers, batched into one Arrow column) gives the same ids.
    lists, lengths = encode_texts(enc, texts)
    for name, mix_ids, node_ids in zip(cases, lists.to_pylist(), node["document"], strict=True):
        assert mix_ids == node_ids, f"the mix job's ids differ for {name}"
    assert lengths.tolist() == [len(ids) for ids in node["document"]]
    n_bytes = sum(len(d) for d in cases.values())
    n_ids = sum(len(ids) for ids in ordinary)
    speed = ""
    if n_bytes >= 1_000_000:  # too small to time otherwise
        speed = (
            f"; python {n_bytes / 1e6 / py_seconds:.1f} MB/s, "
            f"node {n_bytes / 1e6 / node['seconds']:.1f} MB/s (one thread each)"
        )
    print(f"\nparity: {len(cases)} texts, {n_bytes} bytes, {n_ids} ids identical{speed}")


def test_vocab(enc: tiktoken.Encoding) -> None:
    assert enc.n_vocab == GPT2_N_VOCAB == 50257
    assert enc.eot_token == GPT2_EOT == 50256
    assert enc.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert enc.encode_ordinary("hello world") == [31373, 995]


def test_endoftext_literal_is_text_unless_allowed(enc: tiktoken.Encoding) -> None:
    text = "a<|endoftext|>b"
    assert GPT2_EOT not in enc.encode_ordinary(text)
    assert enc.encode(text, allowed_special="all").count(GPT2_EOT) == 1
    assert encode_document(enc, text)[-1] == GPT2_EOT
    assert encode_document(enc, text).count(GPT2_EOT) == 1
    with pytest.raises(ValueError):
        enc.encode(text)  # tiktoken refuses special tokens unless told how to treat them


def test_crlf_changes_ids(enc: tiktoken.Encoding) -> None:
    assert enc.encode_ordinary("a\r\nb") != enc.encode_ordinary("a\nb")


def test_parity_synthetic(enc: tiktoken.Encoding, dist: Path, tmp_path: Path) -> None:
    _assert_parity(enc, dist, tmp_path, SYNTHETIC)


def test_parity_real_samples(
    enc: tiktoken.Encoding, dist: Path, tmp_path: Path, shared_data: Path
) -> None:
    cases = {p.name: p.read_bytes() for p in sorted((shared_data / "books").glob("*.txt"))}
    cases.update(_wet_bodies(shared_data))
    if not cases:
        pytest.skip(f"no books/*.txt or wet/*.wet* under {shared_data}")
    assert any(b"\r\n" in data for data in cases.values()), "expected CRLF text among the samples"
    _assert_parity(enc, dist, tmp_path, cases)


def test_missing_rank_file_names_setup_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="gpt2-ranks.js --out"):
        gpt2_encoding(str(tmp_path / "absent.tiktoken"))
