"""The project's WET reader: same records as warcio on real files, every breakage counted."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from spark_jobs.wet import WetDocuments, WetReader

CHUNKS = [7, 1 << 16]  # a tiny read size exercises every buffer boundary
REAL = [
    "CC-MAIN-2020-50-head.warc.wet.gz",
    "CC-MAIN-2014-35-head.warc.wet",
    "CC-MAIN-2024-22-whirlwind.warc.wet.gz",
]


def warc_record(
    kind: str, body: bytes, n: int, length: int | None = None, extra: str = ""
) -> bytes:
    head = (
        f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: http://example.com/{n}\r\n"
        f"WARC-Date: 2019-01-11T00:00:{n % 60:02d}Z\r\n"
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\n{extra}"
        f"Content-Type: text/plain\r\nContent-Length: {len(body) if length is None else length}"
        "\r\n\r\n"
    )
    return head.encode() + body + b"\r\n\r\n"


WARCINFO = warc_record("warcinfo", b"isPartOf: CC-MAIN-2019-04\r\npublisher: test\r\n", 0)
LANG = "WARC-Identified-Content-Language: deu,eng\r\n"


def members(n: int = 5) -> list[bytes]:
    """warcinfo + n conversion records, one gzip member each (Common Crawl's layout)."""
    bodies = [f"page {i}\nline two of page {i}\r\nend\n".encode() * 20 for i in range(1, n + 1)]
    records = [WARCINFO] + [
        warc_record("conversion", b, i, extra=LANG) for i, b in enumerate(bodies, 1)
    ]
    return [gzip.compress(r, mtime=0) for r in records]


def read(data: bytes, chunk: int = 1 << 16, max_chars: int = 100_000):
    docs = WetDocuments(io.BytesIO(data), max_chars=max_chars, chunk_size=chunk)
    return list(docs), docs


def ids(docs) -> list[int]:
    return [int(d.record_id[-13:-1]) for d in docs]


def warcio_records(path: Path) -> tuple[list[tuple[str, str, bytes]], list[dict[str, str]]]:
    """Each record's (type, id, body), and its headers as `WetRecord.by_name` holds them:
    lower-cased names, the first value of each kept. One pass over the file."""
    records, headers = [], []
    with open(path, "rb") as stream:
        for r in ArchiveIterator(stream):
            records.append(
                (r.rec_type, r.rec_headers.get_header("WARC-Record-ID"), r.content_stream().read())
            )
            by_name: dict[str, str] = {}
            for name, value in r.rec_headers.headers:
                by_name.setdefault(name.lower(), value)
            headers.append(by_name)
    return records, headers


@pytest.mark.parametrize("name", REAL)
def test_real_samples_match_warcio(shared_data: Path, name: str) -> None:
    path = shared_data / "wet" / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    expected, expected_headers = warcio_records(path)
    with open(path, "rb") as stream:
        reader = WetReader(stream)
        records = list(reader)
    got = [(r.header("WARC-Type"), r.header("WARC-Record-ID"), r.body) for r in records]
    assert reader.problems == []
    assert got == expected
    assert [r.by_name for r in records] == expected_headers
    with open(path, "rb") as stream:
        documents = WetDocuments(stream)
        docs = list(documents)
    conversions = [(rid, body) for kind, rid, body in expected if kind == "conversion"]
    assert [(d.record_id, d.text) for d in docs] == [(i, b.decode()) for i, b in conversions]
    assert [d.utf8 for d in docs] == [b for _, b in conversions]  # the bodies, as they were
    assert documents.crawl == name[:15]
    assert documents.counts["records"] == len(conversions)
    assert documents.counts["non_conversion"] == len(expected) - len(conversions)


def test_multilingual_sample_keeps_first_language(shared_data: Path) -> None:
    path = shared_data / "wet" / REAL[0]
    if not path.exists():
        pytest.skip(f"{path} not present")
    with open(path, "rb") as stream:
        docs = list(WetDocuments(stream))
    with open(path, "rb") as stream:
        headers = [
            r.rec_headers.get_header("WARC-Identified-Content-Language")
            for r in ArchiveIterator(stream)
            if r.rec_type == "conversion"
        ]
    assert len(docs) == len(headers) == 317
    assert sum("," in h for h in headers if h) > 100  # many pages name several languages
    assert [d.lang for d in docs] == [h.split(",")[0] if h else None for h in headers]
    assert {"eng", "zho", "rus", "jpn"} <= {d.lang for d in docs}


@pytest.mark.parametrize("chunk", CHUNKS)
def test_intact_file_keeps_bytes_and_headers(chunk: int) -> None:
    docs, documents = read(b"".join(members()), chunk)
    assert ids(docs) == [1, 2, 3, 4, 5]
    assert docs[0].text == "page 1\nline two of page 1\r\nend\n" * 20  # CRLF stays
    assert docs[0].lang == "deu" and docs[0].url == "http://example.com/1"
    assert documents.crawl == "CC-MAIN-2019-04"
    assert dict(documents.counts) == {"records": 5, "non_conversion": 1}


@pytest.mark.parametrize("chunk", CHUNKS)
def test_truncated_last_member(chunk: int) -> None:
    parts = members()
    parts[-1] = parts[-1][: int(len(parts[-1]) * 0.6)]
    docs, documents = read(b"".join(parts), chunk)
    assert ids(docs) == [1, 2, 3, 4]
    assert documents.counts["truncated_gzip"] == 1
    assert documents.reader.problems[0].offset == sum(len(p) for p in parts[:-1])


@pytest.mark.parametrize("chunk", CHUNKS)
def test_corrupt_member_is_skipped_and_later_members_read(chunk: int) -> None:
    parts = members()
    broken = bytearray(parts[2])  # record 2
    middle = len(broken) // 2
    broken[middle : middle + 16] = bytes(b ^ 0xFF for b in broken[middle : middle + 16])
    parts[2] = bytes(broken)
    docs, documents = read(b"".join(parts), chunk)
    assert ids(docs) == [1, 3, 4, 5]
    assert documents.counts["corrupt_gzip"] == 1
    assert documents.reader.problems[0].offset == len(parts[0]) + len(parts[1])


@pytest.mark.parametrize("trailer_byte", [-8, -1])  # the CRC-32's first byte, the length's last
def test_member_whose_trailer_disagrees_is_corrupt(trailer_byte: int) -> None:
    # The inflated bytes are whole; only the check in the member's trailer is wrong. An inflater
    # that skipped the trailer's checks would keep record 2.
    parts = members()
    broken = bytearray(parts[2])
    broken[trailer_byte] ^= 0x01
    parts[2] = bytes(broken)
    docs, documents = read(b"".join(parts))
    assert ids(docs) == [1, 3, 4, 5]
    assert [p.reason for p in documents.reader.problems] == ["corrupt_gzip"]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_garbage_tail_and_between_members(chunk: int) -> None:
    html = b"<html><body>503 Service Unavailable</body></html>\n" * 12
    parts = members()
    docs, documents = read(b"".join(parts[:3]) + html + b"".join(parts[3:]) + html, chunk)
    assert ids(docs) == [1, 2, 3, 4, 5]
    assert documents.counts["garbage_between_members"] == 1
    assert documents.counts["garbage_tail"] == 1
    tail = documents.reader.problems[-1]
    assert (tail.reason, tail.detail) == ("garbage_tail", f"{len(html)} bytes that are not gzip")


@pytest.mark.parametrize("chunk", CHUNKS)
def test_bad_content_length_and_malformed_header(chunk: int) -> None:
    parts = members()
    body = b"seven bytes short"
    parts[2] = gzip.compress(warc_record("conversion", body, 2, length=len(body) + 7), mtime=0)
    parts[4] = gzip.compress(b"WARC/1.0\r\nWARC-Type conversion\r\n\r\nbody\r\n\r\n", mtime=0)
    docs, documents = read(b"".join(parts), chunk)
    assert ids(docs) == [1, 3, 5]
    assert documents.counts["bad_content_length"] == 1
    assert documents.counts["malformed_header"] == 1


@pytest.mark.parametrize("chunk", CHUNKS)
def test_plain_file_resynchronises_after_a_bad_record(chunk: int) -> None:
    records = [WARCINFO] + [warc_record("conversion", b"text %d" % i, i) for i in range(1, 5)]
    records[2] = warc_record("conversion", b"text 2", 2, length=60)
    docs, documents = read(b"".join(records), chunk)
    assert ids(docs) == [1, 3, 4]
    assert documents.counts["bad_content_length"] == 1


def test_invalid_utf8_empty_and_giant_records() -> None:
    records = [
        WARCINFO,
        warc_record("conversion", b"caf\xe9 ok \xff", 1),
        warc_record("conversion", b"", 2),
        warc_record("conversion", b" \r\n\t ", 3),
        warc_record("conversion", "é".encode() * 150_000, 4),
        warc_record("conversion", b"fine", 5),
    ]
    docs, documents = read(b"".join(gzip.compress(r, mtime=0) for r in records))
    assert ids(docs) == [1, 2, 3, 4, 5]
    assert docs[0].text == "caf\ufffd ok \ufffd" and docs[0].dropped is None
    assert [d.dropped for d in docs[1:3]] == ["empty", "empty"]
    assert docs[3].text == "é" * 100_000 and docs[3].dropped is None
    # Altered texts are encoded again: the bytes Arrow gets are the text that is kept.
    assert [docs[0].utf8, docs[3].utf8] == [docs[0].text.encode(), docs[3].text.encode()]
    assert docs[3].lang is None  # no language header
    assert dict(documents.counts) == {
        "records": 5,
        "non_conversion": 1,
        "invalid_utf8": 1,
        "empty": 2,
        "too_long": 1,
    }
