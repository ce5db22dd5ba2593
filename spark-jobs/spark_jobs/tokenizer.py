"""GPT-2 BPE for Spark jobs, built offline from the rank file that infra/gpt2-ranks.ts exports.

Python tiktoken cannot download its vocabulary here, so the encoding is assembled from
`<repo>/.ccmix/tokenizer/gpt2.tiktoken` (`<base64 token> <rank>` per line) and its sidecar
`gpt2.tiktoken.json` (`pat_str`, `special_tokens`, `explicit_n_vocab`). The ids equal the npm
tokenizer's (tests/test_tokenizer_parity.py). A literal `<|endoftext|>` inside a document is
ordinary text; a document's ids are its text followed by the end-of-text token.
"""

from __future__ import annotations

import base64
import json
import os
from functools import lru_cache
from pathlib import Path

import tiktoken

GPT2_EOT = 50256
GPT2_N_VOCAB = 50257
RANKS_ENV = "CCMIX_GPT2_RANKS"
SETUP_COMMAND = "node dist/infra/gpt2-ranks.js --out .ccmix/tokenizer/gpt2.tiktoken"
REPO_ROOT = Path(__file__).resolve().parents[2]


def default_rank_path() -> Path:
    env = os.environ.get(RANKS_ENV)
    return Path(env) if env else REPO_ROOT / ".ccmix" / "tokenizer" / "gpt2.tiktoken"


def load_ranks(path: Path) -> dict[bytes, int]:
    """Parses a tiktoken rank file, as `tiktoken.load.load_tiktoken_bpe` would, without its cache.

    (tiktoken's loader caches by path, not content, in a temp dir: a re-exported file could be
    shadowed by a stale copy.)
    """
    ranks: dict[bytes, int] = {}
    for n, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{n}: expected '<base64 token> <rank>', got {line[:40]!r}")
        ranks[base64.b64decode(parts[0], validate=True)] = int(parts[1])
    return ranks


@lru_cache(maxsize=4)
def _encoding(path: Path) -> tiktoken.Encoding:
    sidecar = path.with_name(path.name + ".json")
    if not path.is_file() or not sidecar.is_file():
        raise FileNotFoundError(
            f"GPT-2 rank file {path} (or its sidecar {sidecar.name}) is missing; create it "
            f"from the repo root with `{SETUP_COMMAND}` (infra/setup.sh runs it), "
            f"or point {RANKS_ENV} at one"
        )
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=meta["pat_str"],
        mergeable_ranks=load_ranks(path),
        special_tokens=meta["special_tokens"],
        explicit_n_vocab=meta["explicit_n_vocab"],
    )


def gpt2_encoding(rank_path: str | None = None) -> tiktoken.Encoding:
    """The GPT-2 encoding from `rank_path`, else $CCMIX_GPT2_RANKS, else the repo's .ccmix copy.

    Cached per resolved path, so calling it once per partition in a Spark task is cheap.
    """
    path = Path(rank_path) if rank_path else default_rank_path()
    return _encoding(path.resolve())


def encode_document(enc: tiktoken.Encoding, text: str) -> list[int]:
    """A document's training ids: its text as ordinary text (no special tokens), then EOT."""
    ids = enc.encode_ordinary(text)
    ids.append(enc.eot_token)
    return ids


def read_text(path: str | os.PathLike[str], errors: str = "strict") -> str:
    """Reads UTF-8 with its bytes intact: no newline translation (CRLF stays CRLF)."""
    return Path(path).read_bytes().decode("utf-8", errors=errors)
