"""The dataset card (`README.md`) beside the mixture's Parquet files.

Its YAML header is what Hugging Face `datasets` reads to find the files (one `train` split over
`data/train-*.parquet`), so `load_dataset(<folder>)` needs no conversion. The body is the mixture
table: what was targeted, what was written, and the paper's Table 2.2 beside it.
"""

from __future__ import annotations

from typing import Any

HEADER = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
---
"""


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def render_card(extra: dict[str, Any], params: Any) -> str:
    """The card's text from the job's metrics `extra` (deterministic: no times, no paths)."""
    lines = [
        HEADER,
        "# ccmix GPT-3 mixture (Brown et al. 2020, Table 2.2)",
        "",
        f"{extra['rows']:,} rows of exactly {extra['n_ctx']} GPT-2 BPE ids ({extra['tokens']:,}"
        f" tokens), seed {params.seed}. Columns: `input_ids` (list<int32>), `source`, `epoch`,"
        " `position` (the training order; files are sorted by it, every prefix follows the"
        " weights).",
        "",
        "Every document is its text encoded as ordinary text followed by `<|endoftext|>` (50256);"
        ' documents are packed across row boundaries. A literal "<|endoftext|>" inside a page is'
        " ordinary text, never id 50256.",
        "",
        "| source | target weight | achieved weight | rows | tokens | epochs"
        " | paper tokens | paper weight | paper epochs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in extra["sources"].items():
        paper = s["paper"]
        tokens = None if paper["tokens"] is None else f"{paper['tokens'] / 1e9:g}B"
        lines.append(
            f"| {name} | {_fmt(s['target_weight'], '.4f')} | {s['achieved_weight']:.4f}"
            f" | {s['rows']:,} | {s['tokens']:,} | {s['epochs']:.3f} | {tokens or '–'}"
            f" | {_fmt(paper['weight'], 'g')} | {_fmt(paper['epochs'], 'g')} |"
        )
    lines += [
        "",
        "Epochs are this run's: rows taken / full rows one epoch of the source yields. The paper's"
        " printed epochs do not follow from its own tokens and weights (WebText2: 300B x 22% /"
        " 19B = 3.47, printed 2.9).",
        "",
    ]
    return "\n".join(lines)
