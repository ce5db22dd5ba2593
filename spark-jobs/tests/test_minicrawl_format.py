"""Independent check of the miniature crawl's WET format with warcio (not the project's reader)."""

import base64
import gzip
import hashlib
import json
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

CRAWLS = ["CC-MAIN-2017-04", "CC-MAIN-2019-04"]
FIRST_CRAWL_WITH_LANGUAGE = "CC-MAIN-2018-34"


@pytest.fixture(scope="module")
def mini_crawl(tmp_path_factory: pytest.TempPathFactory, make_mini_crawl) -> Path:
    out = tmp_path_factory.mktemp("minicrawl")
    summary = make_mini_crawl(out, 1, 7, CRAWLS)
    assert summary["params"]["crawls"] == CRAWLS
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def sha1_base32(body: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def test_every_record_parses_with_warcio(mini_crawl: Path) -> None:
    rows = read_jsonl(mini_crawl / "ground-truth" / "documents.jsonl")
    broken = {
        b["key"]
        for b in json.loads((mini_crawl / "ground-truth" / "broken-files.json").read_text())
    }
    checked_files = 0
    for crawl in CRAWLS:
        paths = gzip.decompress((mini_crawl / "crawl-data" / crawl / "wet.paths.gz").read_bytes())
        keys = paths.decode("utf-8").splitlines()
        assert len(keys) == 2
        for key in keys:
            assert key.startswith(f"crawl-data/{crawl}/segments/") and key.endswith(".warc.wet.gz")
            if key in broken:
                continue
            checked_files += 1
            types, ids, languages = [], [], []
            with open(mini_crawl / key, "rb") as stream:
                for record in ArchiveIterator(stream):
                    types.append(record.rec_type)
                    if record.rec_type != "conversion":
                        assert record.rec_headers.get_header("WARC-Filename") == Path(key).name
                        continue
                    body = record.raw_stream.read()
                    headers = record.rec_headers
                    assert int(headers.get_header("Content-Length")) == len(body)
                    assert headers.get_header("WARC-Block-Digest") == sha1_base32(body)
                    assert headers.get_header("Content-Type") == "text/plain"
                    assert headers.get_header("WARC-Record-ID").startswith("<urn:uuid:")
                    assert headers.get_header("WARC-Refers-To").startswith("<urn:uuid:")
                    ids.append(headers.get_header("WARC-Record-ID"))
                    language = headers.get_header("WARC-Identified-Content-Language")
                    languages.append((len(body), language))
            assert types[0] == "warcinfo" and set(types[1:]) == {"conversion"}
            assert ids == [r["record_id"] for r in rows if r["key"] == key]
            for size, language in languages:
                expected = crawl >= FIRST_CRAWL_WITH_LANGUAGE and size > 0
                assert (language is not None) == expected, (crawl, size, language)
    assert checked_files >= 2


def test_ground_truth_is_complete(mini_crawl: Path) -> None:
    summary = json.loads((mini_crawl / "ground-truth" / "summary.json").read_text())
    rows = read_jsonl(mini_crawl / "ground-truth" / "documents.jsonl")
    assert summary["records"] == len(rows) == 2 * 2 * 40
    for name in ["webtext2", "books1", "books2", "wikipedia"]:
        docs = read_jsonl(mini_crawl / "reference" / name / "part-00000.jsonl")
        assert len(docs) == summary["reference"][name]["docs"]
        assert all(isinstance(d["id"], str) and d["text"] for d in docs)
