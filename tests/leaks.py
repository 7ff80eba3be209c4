"""Searching every byte a command wrote for values in every form they could leak in.

A value is searched as written, lowercased, and as its unkeyed MD5, SHA-1 and SHA-256 (hex in either case,
and the raw digest bytes). Files are searched as bytes; compressed files also decompressed; Parquet and CSV
files also column by column (Parquet pages are compressed, and a hit should name its column), JSON files
key by key and HTML pages section by section with entities decoded, so a hit names where it is.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import html
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import zstandard

HASHES = ("md5", "sha1", "sha256")
_SECTION = re.compile(r'<section id="([^"]+)"[^>]*>(.*?)</section>', re.S)
_DECOMPRESS = ((b"\x1f\x8b", gzip.decompress), (b"BZh", bz2.decompress), (b"\x28\xb5\x2f\xfd", zstandard.decompress))


@dataclass(frozen=True)
class Hit:
    where: str  # "run/dead_letter/dead_letter-00000-of-00001.parquet#raw", "stderr of match", ...
    what: str  # "hidden canary email (normalized), sha1 hex"

    @property
    def file(self) -> str:
        return self.where.split("#", 1)[0]

    @property
    def column(self) -> str | None:
        return self.where.split("#", 1)[1] if "#" in self.where else None


def value_forms(label: str, values: Iterable[str]) -> tuple[dict[bytes, str], dict[bytes, str]]:
    """(text needles, searched in lowercased data; raw digest needles, searched as they are)."""
    text: dict[bytes, str] = {}
    raw: dict[bytes, str] = {}
    for value in values:
        encoded = value.encode("utf-8")
        text[encoded.lower()] = label
        for name in HASHES:
            digest = hashlib.new(name, encoded)
            text[digest.hexdigest().encode("ascii")] = f"{label}, {name} hex"
            raw[digest.digest()] = f"{label}, {name} bytes"
    return text, raw


class Needles:
    """Many needles, one regex pass per haystack."""

    def __init__(self, text: dict[bytes, str], raw: dict[bytes, str]) -> None:
        self._text = {needle.lower(): what for needle, what in text.items()}
        self._raw = dict(raw)
        self._text_re = _alternation(self._text)
        self._raw_re = _alternation(self._raw)

    def find(self, data: bytes) -> set[str]:
        found = {self._text[m.group()] for m in self._text_re.finditer(data.lower())} if self._text else set()
        if self._raw:
            found |= {self._raw[m.group()] for m in self._raw_re.finditer(data)}
        return found


def _alternation(needles: dict[bytes, str]) -> re.Pattern[bytes]:
    return re.compile(b"|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)) or b"(?!)")


def scan_bytes(where: str, data: bytes, needles: Needles) -> list[Hit]:
    return [Hit(where, what) for what in sorted(needles.find(data))]


def scan_tree(root: Path, needles: Needles, label: str | None = None) -> tuple[list[Hit], list[str]]:
    """Every file under ``root``: (hits, files scanned), paths relative to ``root``'s parent."""
    hits: list[Hit] = []
    scanned: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = (label + "/" if label else "") + path.relative_to(root).as_posix()
        scanned.append(rel)
        data = path.read_bytes()
        hits += scan_bytes(rel, data, needles)
        for where, piece in _views(rel, data):
            hits += scan_bytes(where, piece, needles)
    return hits, scanned


def _views(rel: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """What a file holds beyond its raw bytes: decompressed content, Parquet and CSV columns."""
    for magic, decompress in _DECOMPRESS:
        if data.startswith(magic):
            yield f"{rel}!decompressed", decompress(data)
    if data.startswith(b"PAR1"):
        table = pq.read_table(io.BytesIO(data))
        for name in table.column_names:
            cells = table.column(name).to_pylist()
            yield f"{rel}#{name}", b"\n".join(c if isinstance(c, bytes) else str(c).encode() for c in cells)
    elif rel.endswith(".csv"):
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"), newline="")))
        for i, name in enumerate(rows[0] if rows else []):
            yield f"{rel}#{name}", "\n".join(r[i] for r in rows[1:] if i < len(r)).encode()
    elif rel.endswith(".json"):
        document = json.loads(data)
        for key, value in document.items() if isinstance(document, dict) else ():
            yield f"{rel}#{key}", json.dumps(value, ensure_ascii=False).encode()
    elif rel.endswith(".html"):
        text = data.decode("utf-8", errors="replace")
        for match in _SECTION.finditer(text):
            yield f"{rel}#{match.group(1)}", html.unescape(match.group(2)).encode()
        yield f"{rel}#unescaped", html.unescape(_SECTION.sub("", text)).encode()
