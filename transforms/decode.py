"""Bytes to UTF-8 records: decompression that never reads short silently, and encodings.

Beam's own readers return a silently short read for a truncated gzip; here every
decompressor must reach its end-of-stream marker, or the input is reported as
incomplete with the reason. Decompression bombs stop at a ratio and an absolute cap.
"""

from __future__ import annotations

import bz2
import codecs
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import charset_normalizer
import zstandard

READ_BYTES = 1 << 16  # compressed bytes per call: small, so output before a fault is kept
MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip"))
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# Encodings in which "\n" is the single byte 0x0A, so byte ranges can be cut at newlines.
_BYTE_SPLITTABLE = ("utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859", "cp125", "windows-125", "mac", "koi8")
PREFERRED_LEGACY = "cp1252"
UTF8_MAJORITY = 10  # valid multi-byte characters per invalid byte for "UTF-8 with strays"
BOMB_MIN_BYTES = 64 << 20  # below this much output, no ratio is a bomb
# A record is one person: a megabyte is far beyond any real one, and bounds what a hostile line costs.
MAX_RECORD_BYTES = 1 << 20
# Lines one quoted CSV field may span: a multi-line address or note fits; a stray quote costs one line.
MAX_QUOTED_LINES = 64


class Incomplete(Exception):
    """The input ended early or is corrupt: everything before the fault was read."""


@dataclass(frozen=True)
class Limits:
    """What one input may make a reader hold or produce: decompression-bomb limits (output/input ratio,
    absolute output bytes), the longest record of a line format (CSV, JSON lines, combo lists) and
    the most lines a quoted CSV field may span."""

    max_ratio: float
    max_bytes: int
    max_record_bytes: int = MAX_RECORD_BYTES
    max_quoted_lines: int = MAX_QUOTED_LINES

    def check(self, consumed: int, produced: int) -> None:
        if produced > self.max_bytes:
            raise Incomplete(f"decompressed size over {self.max_bytes} bytes (--max-decompressed-bytes)")
        if produced > BOMB_MIN_BYTES and produced > self.max_ratio * max(consumed, 1):
            raise Incomplete(f"compression ratio over {self.max_ratio:g} (--max-compression-ratio): a bomb?")


def detect_compression(head: bytes) -> str:
    """Compression from magic bytes (content, not the extension); "none" otherwise."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return "none"


_ERRORS: tuple[type[Exception], ...] = (zlib.error, OSError, EOFError, zstandard.ZstdError)
OUTPUT_BYTES = 4 << 20  # most output one call may produce: a bomb cannot spike memory
ZSTD_INPUT_BYTES = 4096  # zstd has no output bound per call; small inputs bound it instead


def _members(raw: BinaryIO, compression: str) -> Iterator[tuple[bytes, int]]:
    """(output block, compressed bytes consumed so far) over every member or frame of a stream.

    Raises Incomplete when the data stops before an end-of-stream marker.
    """
    consumed, pending, produced = 0, b"", 0
    while True:
        if compression == "gzip":
            member: Any = zlib.decompressobj(wbits=31)
        elif compression == "bz2":
            member = bz2.BZ2Decompressor()
        else:
            member = zstandard.ZstdDecompressor().decompressobj()
        while not member.eof:
            data = pending or raw.read(ZSTD_INPUT_BYTES if compression == "zstd" else READ_BYTES)
            pending = b""
            if not data:
                raise Incomplete(f"{compression} stream is cut off after {produced} decompressed bytes")
            consumed += len(data)
            for out in _feed(member, compression, data):
                produced += len(out)
                yield out, consumed
        pending = member.unused_data
        consumed -= len(pending)
        if not pending:
            pending = raw.read(READ_BYTES)
            if not pending:
                return


def _feed(member: Any, compression: str, data: bytes) -> Iterator[bytes]:
    """Feeds one input chunk, yielding output in bounded pieces."""
    if compression == "gzip":
        while data and not member.eof:
            yield member.decompress(data, OUTPUT_BYTES)
            data = member.unconsumed_tail
    elif compression == "bz2":
        yield member.decompress(data, OUTPUT_BYTES)
        while not member.eof and not member.needs_input:
            yield member.decompress(b"", OUTPUT_BYTES)
    else:
        yield member.decompress(data)


def decompress(raw: BinaryIO, compression: str, limits: Limits) -> Iterator[bytes]:
    """Decompressed blocks of a gzip/bz2/zstd stream, all members or frames of it.

    Raises Incomplete when the data stops before an end-of-stream marker, is corrupt,
    or passes the bomb limits.
    """
    produced = 0
    try:
        for out, consumed in _members(raw, compression):
            produced += len(out)
            limits.check(consumed, produced)
            if out:
                yield out
    except _ERRORS as err:
        raise Incomplete(f"corrupt {compression} data after {produced} decompressed bytes: {err}") from None


AHEAD_BLOCKS = 8  # blocks (of at most OUTPUT_BYTES) that ``ahead`` may produce before they are read
_END = object()


def ahead(blocks: Iterator[bytes], depth: int = AHEAD_BLOCKS) -> Iterator[bytes]:
    """The same blocks, produced by a thread up to ``depth`` blocks ahead of the reader: zlib, bz2,
    zstd and transcoding release the GIL, so decompressing the next blocks overlaps parsing this
    one. An exception from ``blocks`` is raised here in its place; closing this iterator stops the
    thread."""
    handoff: queue.Queue[tuple[object, Exception | None]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[object, Exception | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not put((block, None)):
                    return
        except Exception as err:  # noqa: BLE001 - handed to the reader, which raises it in the block's place
            put((None, err))
            return
        put((_END, None))

    thread = threading.Thread(target=produce, name="dumpmatch-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            block, err = handoff.get()
            if err is not None:
                raise err
            if block is _END:
                return
            yield cast(bytes, block)
    finally:
        stop.set()
        thread.join()


def detect_encoding(sample: bytes) -> str:
    """A BOM, else UTF-8 if the sample decodes as UTF-8, else charset-normalizer's best guess."""
    for bom, name in BOMS:
        if sample.startswith(bom):
            return name
    if _mostly_utf8(sample):
        return "utf-8"
    matches = charset_normalizer.from_bytes(sample)
    best = matches.best()
    if best is None:
        return PREFERRED_LEGACY
    # Short Western samples decode as cleanly in cp1250/cp1252/cp775/…: among the cleanest
    # decodings (equal "chaos"), the most common legacy encoding wins.
    tied = [m for m in matches if m.chaos <= best.chaos]
    if any(PREFERRED_LEGACY in m.could_be_from_charset for m in tied):
        return PREFERRED_LEGACY
    return best.encoding


def _mostly_utf8(sample: bytes) -> bool:
    """Valid UTF-8, or UTF-8 with a few stray bytes (those lines become dead letters):
    legacy encodings produce almost no valid multi-byte sequences."""
    text = sample.decode("utf-8", errors="replace")
    if sample.endswith(tuple(bytes([b]) for b in range(0xC0, 0x100))):
        text = text[:-1]
    invalid = text.count("\ufffd")
    if invalid == 0:
        return True
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return multibyte >= UTF8_MAJORITY * invalid


def byte_splittable(encoding: str) -> bool:
    """Whether newlines are single 0x0A bytes in this encoding (not UTF-16/32)."""
    name = codecs.lookup(encoding).name
    return name.startswith(_BYTE_SPLITTABLE)


def is_utf8(encoding: str) -> bool:
    """Whether bytes in ``encoding`` are UTF-8 already, with no BOM to strip."""
    return codecs.lookup(encoding).name in ("utf-8", "ascii")


def to_utf8(data: bytes, encoding: str) -> bytes:
    """Transcodes a whole buffer of a byte-splittable legacy encoding to UTF-8."""
    if codecs.lookup(encoding).name in ("utf-8", "ascii"):
        return data
    if codecs.lookup(encoding).name == "utf-8-sig":
        return data.removeprefix(codecs.BOM_UTF8)
    return data.decode(encoding, errors="replace").encode("utf-8")


def transcode(blocks: Iterator[bytes], encoding: str, bare_cr: bool) -> Iterator[bytes]:
    """Streams blocks in any encoding as UTF-8, with bare "\\r" line ends made "\\n"."""
    name = codecs.lookup(encoding).name
    passthrough = name in ("utf-8", "ascii")
    decoder = None if passthrough else codecs.getincrementaldecoder(encoding)(errors="replace")
    for block in blocks:
        out = block if decoder is None else decoder.decode(block).encode("utf-8")
        yield out.replace(b"\r", b"\n") if bare_cr else out
    if decoder is not None:
        tail = decoder.decode(b"", final=True).encode("utf-8")
        if tail:
            yield tail.replace(b"\r", b"\n") if bare_cr else tail


def has_bare_cr(sample: bytes) -> bool:
    """Old Mac files end lines with "\\r" alone."""
    return b"\r" in sample and b"\n" not in sample
