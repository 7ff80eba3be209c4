"""Delimited text: record boundaries, line numbers, range planning, fallback parsing."""

from __future__ import annotations

import numpy as np
import pytest

from transforms import delimited

WANTED = {"email": 0, "name": 1}


def test_records_start_lines_as_an_editor_shows_them() -> None:
    data = b'email,name\r\na@b.com,"Smith,\nJohn"\n\nx@y.com,Z\n'
    records = delimited.find_records(data, 1)
    assert records.lines.tolist() == [1, 2, 5]
    assert records.quoted_newlines


@pytest.mark.parametrize("data", [b"", b"\n", b"\r\n\r\n"])
def test_blank_input_has_no_records(data: bytes) -> None:
    assert delimited.find_records(data, 1).starts.size == 0


def test_fast_path_parses_quotes_and_crlf() -> None:
    data = b'email,name\r\na@b.com,"Smith, John"\r\n"x@y.com","He said ""hi"""\r\n'
    parsed = delimited.parse_range(data, 1, ",", 2, WANTED, has_header=True)
    assert parsed.table.to_pydict() == {
        "email": ["a@b.com", "x@y.com"],
        "name": ["Smith, John", 'He said "hi"'],
        "_line": [2, 3],
    }
    assert (parsed.read, parsed.headers, parsed.dead) == (3, 1, [])


def test_bad_records_become_dead_letters_and_the_rest_parses() -> None:
    data = b'email,name\na@b.com,A\nragged\n\xff@x.com,B\n"open,C\nz@z.com,D'
    parsed = delimited.parse_range(data, 1, ",", 2, WANTED, has_header=True)
    assert parsed.table.column("email").to_pylist() == ["a@b.com"]
    reasons = {line: reason for line, reason, _ in parsed.dead}
    assert reasons[3].startswith("ragged row: 1 fields")
    assert reasons[4].startswith("bytes are not valid UTF-8")
    assert reasons[5] == "unbalanced quote"
    assert parsed.read == parsed.table.num_rows + len(parsed.dead) + parsed.headers


def test_raw_text_of_a_dead_letter_is_capped() -> None:
    data = b"a,b\n" + b"x" * (delimited.RAW_CAP * 3) + b"\n"
    parsed = delimited.parse_range(data, 1, ",", 2, WANTED, has_header=True)
    assert len(parsed.dead[0][2]) == delimited.RAW_CAP


@pytest.mark.parametrize(
    ("header", "delimiter"), [("a,b,c", ","), ("a;b;c", ";"), ("a\tb\tc", "\t"), ("a|b|c", "|"), ("a", ",")]
)
def test_sniff_delimiter(header: str, delimiter: str) -> None:
    assert delimited.sniff_delimiter(header) == delimiter


def test_header_strips_bom_and_spaces() -> None:
    assert delimited.parse_header(b"\xef\xbb\xbf E-Mail , Name\r\n", ",") == ["E-Mail", "Name"]


def _lines_via_ranges(data: bytes, block: int, target: int) -> tuple[list[int], list[str]]:
    blocks = [data[i : i + block] for i in range(0, len(data), block)]
    lines: list[int] = []
    emails: list[str] = []
    for start, end, first_line, plain in delimited.plan_ranges(iter(blocks), target):
        parsed = delimited.parse_range(
            data[start:end], first_line, ",", 2, WANTED, has_header=start == 0, plain_lines=plain
        )
        lines += parsed.table.column("_line").to_pylist()
        emails += parsed.table.column("email").to_pylist()
    return lines, emails


@pytest.mark.parametrize(("block", "target"), [(7, 10), (13, 40), (64, 64), (1000, 1)])
def test_ranges_together_equal_the_whole_file(block: int, target: int) -> None:
    rng = np.random.default_rng(1)
    rows = [b"email,name"]
    for i in range(60):
        name = b'"Multi\nLine ' + str(i).encode() + b'"' if rng.random() < 0.2 else b"N" + str(i).encode()
        rows.append(b"e" + str(i).encode() + b"@x.com," + name)
        if rng.random() < 0.1:
            rows.append(b"")
    data = b"\n".join(rows) + b"\n"
    whole = delimited.parse_range(data, 1, ",", 2, WANTED, has_header=True)
    lines, emails = _lines_via_ranges(data, block, target)
    assert lines == whole.table.column("_line").to_pylist()
    assert emails == [f"e{i}@x.com" for i in range(60)]


def _record_spans(data: bytes, quoted: bool) -> list[tuple[int, int]]:
    """Reference: [start, end) of every record, its newline included, walking byte by byte."""
    spans, start, inside = [], 0, False
    for i, byte in enumerate(data):
        if quoted and byte == delimited.QUOTE:
            inside = not inside
        elif byte == delimited.NEWLINE and not inside:
            spans.append((start, i + 1))
            start = i + 1
    return spans + ([(start, len(data))] if start < len(data) else [])


def _random_records(rng: np.random.Generator, quoted: bool) -> bytes:
    records = []
    for _ in range(int(rng.integers(1, 40))):
        pieces = [b"x" * int(rng.choice([0, 2, 9, 40, 150]))]
        if quoted and rng.random() < 0.4:
            pieces.append(b'"q\n' + b"y" * int(rng.integers(0, 90)) + b'"')
        records.append(b"".join(pieces) + b"\n")
    return b"".join(records)[: None if rng.random() < 0.7 else -1]  # sometimes no final newline


@pytest.mark.parametrize("quoted", [True, False])
@pytest.mark.parametrize("seed", range(40))
def test_records_over_the_cap_are_set_aside_exactly_whatever_the_blocks(quoted: bool, seed: int) -> None:
    """Planned ranges and oversized records tile the input in order; exactly the records longer than the cap
    are oversized, with their line and first bytes; line numbers and the no-quoted-newline flag hold."""
    rng = np.random.default_rng(seed)
    data = _random_records(rng, quoted)
    cap, block, target = int(rng.choice([1, 20, 60, 200])), int(rng.integers(1, 130)), int(rng.choice([1, 50, 900]))
    spans = _record_spans(data, quoted)
    planned = list(
        delimited.plan_ranges((data[i : i + block] for i in range(0, len(data), block)), target, quoted, cap)
    )
    position = 0
    oversized = []
    for item in planned:
        if isinstance(item, delimited.Oversized):
            start, end, line = item.start, item.end, item.line
            assert item.head == data[start : min(end, start + delimited.HEAD_BYTES)]
            oversized.append((start, end))
        else:
            start, end, line, plain = item
            inner = [s for s in spans if start <= s[0] < end]
            assert all(e - s <= cap for s, e in inner) and inner[-1][1] == end
            if plain:
                assert len(inner) >= data.count(b"\n", start, end)
        assert start == position and line == 1 + data.count(b"\n", 0, start)
        position = end
    assert position == len(data)
    assert oversized == [(s, e) for s, e in spans if e - s > cap]


def test_an_oversized_record_becomes_a_dead_letter_with_its_size_and_line() -> None:
    record = delimited.Oversized(line=7, start=100, end=100 + 5_000_000, head=b"y" * delimited.HEAD_BYTES)
    parsed = delimited.oversized_range(record, 1 << 20, WANTED)
    assert parsed.read == 1 and parsed.table.num_rows == 0 and parsed.table.column_names == ["email", "name", "_line"]
    ((line, reason, raw),) = parsed.dead
    assert line == 7 and len(raw) == delimited.RAW_CAP
    assert reason == "record of 5000000 bytes is longer than 1048576 (--max-record-bytes): not parsed"
