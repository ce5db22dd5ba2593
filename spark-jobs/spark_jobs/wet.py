"""A streaming WET reader: gzip member by member (Common Crawl's layout) or plain, never stopping.

`WetReader` yields the WARC records it can read, with their bytes intact (CRLF stays), and keeps
every problem with its reason and byte offset instead of raising:

    truncated_gzip           the input ends inside a gzip member
    corrupt_gzip             a member fails to inflate or its CRC/length trailer is wrong; the
                             reader resynchronises on the next gzip magic and reads on
    garbage_between_members  non-gzip bytes followed by another member
    garbage_tail             non-gzip bytes after the last member
    not_warc                 a plain (not gzip) input that does not start with a WARC record;
                             the reader skips to the first `WARC/1.` line, if any
    malformed_header         no `WARC/` version line, a header line without a colon, no numeric
                             Content-Length
    bad_content_length       the declared length does not end at the record terminator (a gzip
                             member holds whole records)

Each of `RECORD_LOSS` stands for one record that could not be read (a gzip member holds one
record in Common Crawl's layout; a plain file resynchronises at the next record), so a job counts
it among the records it took in and dropped. The garbage problems are bytes that never were a
record: they are reported, not counted as records.

`WetDocuments` turns the conversion records into text documents and adds the document-level
reasons: `invalid_utf8` (decoded with U+FFFD for each invalid sequence, kept and flagged),
`too_long` (cut, kept and flagged), `empty` (dropped), `missing_record_id` (dropped); other record
types are counted as `non_conversion`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

# zlib's interface on Intel's ISA-L: the same members inflate to the same bytes, faster than zlib
# and zlib-ng (most of the reader's time on a real WET file is inflating its ~50,000 members).
from isal import isal_zlib

GZIP_MAGIC = b"\x1f\x8b\x08"
CRLF2 = b"\r\n\r\n"
PLAIN_RECORD_START = b"\nWARC/1."
MAX_HEADER_BYTES = 1 << 16
NOT_CRLF = re.compile(rb"[^\r\n]")  # a member has another record if any such byte is left
CHUNK_BYTES = 1 << 16  # what the reader reads from its stream at a time
# What a member's inflater is fed at a time. The inflater copies whatever it was fed past the end
# of its member (`unused_data`): fed a whole 64 KB read per member, inflating the extract bench's
# members took 0.59-0.67 s instead of 0.47-0.48 s.
INFLATE_FEED_BYTES = 1 << 12

CONTAINER_PROBLEMS = (
    "truncated_gzip",
    "corrupt_gzip",
    "garbage_between_members",
    "garbage_tail",
    "not_warc",
    "malformed_header",
    "bad_content_length",
)
RECORD_LOSS = ("truncated_gzip", "corrupt_gzip", "malformed_header", "bad_content_length")
DOCUMENT_PROBLEMS = ("invalid_utf8", "too_long", "empty", "missing_record_id")
DROP_REASONS = ("empty", "missing_record_id")
FLAG_REASONS = ("invalid_utf8", "too_long")  # the document is kept, altered: listed by id


class WetRecord(NamedTuple):
    # A named tuple, not a frozen dataclass: one is made per record, and the dataclass's
    # constructor (a setattr per field) took twice as long.
    by_name: dict[str, str]  # lower-cased header name -> the first value under it
    body: bytes
    offset: int  # file offset of the gzip member (plain files: of the record)

    def header(self, name: str) -> str | None:
        return self.by_name.get(name.lower())


@dataclass(frozen=True)
class Problem:
    reason: str
    offset: int
    detail: str


class _Window:
    """The unread bytes of a stream; `base` is the stream offset of `buf[0]`."""

    def __init__(self, stream: BinaryIO, chunk: int) -> None:
        self.stream, self.chunk = stream, chunk
        # A bytearray grows in place: with bytes, each read of a giant gzip member would copy
        # everything read so far (a 30 MB member took 3.8 s, now 0.8 s).
        self.buf, self.base, self.total = bytearray(), 0, 0

    def more(self) -> bool:
        data = self.stream.read(self.chunk)
        self.buf += data
        self.total += len(data)
        return bool(data)

    def ensure(self, n: int) -> None:
        while len(self.buf) < n and self.more():
            pass

    def consume(self, n: int) -> None:
        n = min(n, len(self.buf))
        del self.buf[:n]
        self.base += n

    def skip_to(self, marker: bytes, start: int) -> tuple[bool, int]:
        """Consumes up to the next `marker` at or after `start`: (found, bytes skipped)."""
        skipped = 0
        while True:
            at = self.buf.find(marker, start)
            if at >= 0:
                self.consume(at)
                return True, skipped + at
            keep = min(len(self.buf), max(start, len(self.buf) - len(marker) + 1))
            self.consume(keep)
            skipped, start = skipped + keep, 0
            if not self.more():
                skipped += len(self.buf)
                self.consume(len(self.buf))
                return False, skipped


def _parse_head(block: bytes) -> tuple[dict[str, str], int] | str:
    """(lower-cased header name -> its first value, content length) of a header block without its
    CRLFCRLF, or an error detail."""
    lines = block.decode("utf-8", errors="replace").split("\r\n")
    if not lines[0].startswith("WARC/"):
        return f"no WARC version line: {lines[0][:40]!r}"
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            return f"header line without a name: {line[:40]!r}"
        headers.append((name, value.strip()))
    by_name: dict[str, str] = {}
    for name, value in headers:
        by_name.setdefault(name.lower(), value)
    length = by_name.get("content-length", "")
    if not length.isdigit():
        return f"bad Content-Length {length!r}"
    return by_name, int(length)


class WetReader:
    """Iterates the records of one WET (or WARC) stream; `problems` fills in as it goes."""

    def __init__(self, stream: BinaryIO, chunk_size: int = CHUNK_BYTES) -> None:
        self._win = _Window(stream, chunk_size)
        self.problems: list[Problem] = []

    @property
    def bytes_read(self) -> int:
        return self._win.total

    def _problem(self, reason: str, offset: int, detail: str) -> None:
        self.problems.append(Problem(reason, offset, detail))

    def __iter__(self) -> Iterator[WetRecord]:
        self._win.ensure(len(GZIP_MAGIC))
        gzipped = self._win.buf.startswith(GZIP_MAGIC)
        return self._read_gzip() if gzipped else self._read_plain()

    def _read_gzip(self) -> Iterator[WetRecord]:
        win = self._win
        while True:
            win.ensure(len(GZIP_MAGIC))
            if not win.buf:
                return
            offset = win.base
            if not win.buf.startswith(GZIP_MAGIC):
                found, skipped = win.skip_to(GZIP_MAGIC, 0)
                reason = "garbage_between_members" if found else "garbage_tail"
                self._problem(reason, offset, f"{skipped} bytes that are not gzip")
                continue
            inflater, parts, fed, error = isal_zlib.decompressobj(31), [], 0, ""
            try:
                while not inflater.eof and (fed < len(win.buf) or win.more()):
                    piece = win.buf[fed : fed + INFLATE_FEED_BYTES]
                    parts.append(inflater.decompress(piece))
                    fed += len(piece)
            except isal_zlib.error as exc:
                error = str(exc)
            if not error and inflater.eof:
                win.consume(fed - len(inflater.unused_data))
                yield from self._records_of_member(b"".join(parts), offset)
                continue
            # A broken member: resynchronise on the next gzip magic after its first byte.
            found, _ = win.skip_to(GZIP_MAGIC, 1)
            if found or error:
                self._problem("corrupt_gzip", offset, error or "member runs into the next one")
            else:
                self._problem("truncated_gzip", offset, "input ends inside a gzip member")

    def _records_of_member(self, data: bytes, offset: int) -> Iterator[WetRecord]:
        at = 0
        while NOT_CRLF.search(data, at):
            end = data.find(CRLF2, at)
            head = _parse_head(data[at:end]) if end >= 0 else "no end of headers"
            if isinstance(head, str):
                self._problem("malformed_header", offset, head)
                return
            by_name, length = head
            body_end = end + 4 + length
            if data[body_end : body_end + 4] != CRLF2:
                detail = f"Content-Length {length} does not end at the record terminator"
                self._problem("bad_content_length", offset, detail)
                return
            yield WetRecord(by_name, data[end + 4 : body_end], offset)
            at = body_end + 4

    def _read_plain(self) -> Iterator[WetRecord]:
        win = self._win
        win.ensure(64)
        start = win.buf.lstrip(b"\r\n")
        if start and not start.startswith(b"WARC/") and not b"WARC/".startswith(start):
            found, skipped = win.skip_to(PLAIN_RECORD_START, 0)
            self._problem("not_warc", 0, f"{skipped} bytes before the first WARC record")
            win.consume(1 if found else 0)
        while True:
            win.ensure(len(CRLF2))
            while win.buf[:1] in (b"\r", b"\n"):  # blank lines between records
                win.consume(1)
                win.ensure(len(CRLF2))
            if not win.buf:
                return
            offset, end = win.base, win.buf.find(CRLF2)
            while end < 0 and len(win.buf) < MAX_HEADER_BYTES and win.more():
                end = win.buf.find(CRLF2)
            head = _parse_head(win.buf[:end]) if end >= 0 else "no end of headers"
            if isinstance(head, str):
                self._problem("malformed_header", offset, head)
                win.skip_to(PLAIN_RECORD_START, 1)
                win.consume(1)
                continue
            by_name, length = head
            body_end = end + 4 + length
            win.ensure(body_end + 4)
            if win.buf[body_end : body_end + 4] != CRLF2:
                detail = f"Content-Length {length} does not end at the record terminator"
                self._problem("bad_content_length", offset, detail)
                win.skip_to(PLAIN_RECORD_START, 1)
                win.consume(1)
                continue
            record = WetRecord(by_name, bytes(win.buf[end + 4 : body_end]), offset)
            win.consume(body_end + 4)
            yield record


class WetDocument(NamedTuple):  # one per record: see WetRecord
    record_id: str | None
    url: str | None
    date: str | None
    lang: str | None  # first code of WARC-Identified-Content-Language
    text: str
    # `text` in UTF-8: the record's body itself unless the text was altered, for Arrow to take as
    # it is (`documents._batch`) instead of encoding `text` again.
    utf8: bytes
    offset: int
    dropped: str | None  # a DROP_REASONS entry, or None when the document is kept
    flags: tuple[tuple[str, str], ...] = ()  # (FLAG_REASONS entry, detail): how the text changed


class WetDocuments:
    """The conversion records of one WET stream as text; `counts` holds every reason seen.

    `counts` also carries `records` (conversion records seen, kept or dropped) and
    `non_conversion`; `crawl` is the warcinfo's `isPartOf`, once read.
    """

    def __init__(self, stream: BinaryIO, max_chars: int = 100_000, chunk_size: int = CHUNK_BYTES):
        self.reader = WetReader(stream, chunk_size)
        self.max_chars = max_chars
        self.counts: Counter[str] = Counter()
        self.crawl: str | None = None

    def __iter__(self) -> Iterator[WetDocument]:
        for record in self.reader:
            kind = record.by_name.get("warc-type", "").lower()
            if kind != "conversion":
                self.counts["non_conversion"] += 1
                if kind == "warcinfo":
                    self.crawl = self.crawl or _warcinfo_field(record.body, "isPartOf")
                continue
            self.counts["records"] += 1
            yield self._document(record)
        self.counts.update(p.reason for p in self.reader.problems)

    def _document(self, record: WetRecord) -> WetDocument:
        flags: list[tuple[str, str]] = []
        utf8 = record.body
        try:
            text = utf8.decode("utf-8")
        except UnicodeDecodeError as error:
            # The one rule for bytes that are not UTF-8: each invalid sequence becomes U+FFFD, the
            # document stays, and it is flagged with where its first bad byte was.
            text = utf8.decode("utf-8", errors="replace")
            utf8 = text.encode()
            self.counts["invalid_utf8"] += 1
            detail = f"first invalid byte at {error.start}; {text.count(chr(0xFFFD))} U+FFFD"
            flags.append(("invalid_utf8", detail))
        headers = record.by_name
        record_id = headers.get("warc-record-id")
        dropped = None
        if not text or text.isspace():  # what strip() would empty, without copying the text
            dropped = "empty"
        elif not record_id:
            dropped = "missing_record_id"
        elif self.max_chars and len(text) > self.max_chars:
            flags.append(("too_long", f"{len(text)} characters cut to {self.max_chars}"))
            text = text[: self.max_chars]
            utf8 = text.encode()
            self.counts["too_long"] += 1
        if dropped:
            self.counts[dropped] += 1
        languages = headers.get("warc-identified-content-language", "")
        return WetDocument(
            record_id=record_id,
            url=headers.get("warc-target-uri"),
            date=headers.get("warc-date"),
            lang=languages.split(",")[0].strip() or None,
            text=text,
            utf8=utf8,
            offset=record.offset,
            dropped=dropped,
            flags=tuple(flags),
        )


def _warcinfo_field(body: bytes, name: str) -> str | None:
    for line in body.decode("utf-8", errors="replace").splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() == name.lower():
            return value.strip() or None
    return None
