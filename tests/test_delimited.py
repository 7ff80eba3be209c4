"""Delimited text: record boundaries, line numbers, range planning, fallback parsing."""

from __future__ import annotations

import io
import itertools

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
    assert parsed.table.column("email").to_pylist() == ["a@b.com", "z@z.com"]
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


def test_a_stray_quote_costs_its_line_only() -> None:
    rows = [b"e%d@x.com,N%d" % (i, i) for i in range(200)]
    rows[3] = b'"e3@x.com,N3'  # opens a quote that never closes
    data = b"email,name\n" + b"\n".join(rows) + b"\n"
    parsed = delimited.parse_range(data, 1, ",", 2, WANTED, has_header=True)
    assert parsed.dead == [(5, "unbalanced quote", '"e3@x.com,N3')]
    assert parsed.table.column("email").to_pylist() == [f"e{i}@x.com" for i in range(200) if i != 3]
    assert parsed.read == 201 == parsed.table.num_rows + len(parsed.dead) + parsed.headers


def test_a_quote_inside_an_unquoted_field_opens_nothing() -> None:
    data = b'email,name\na@x.com,O"Brien\nb@x.com,"Multi\nline"\nc@x.com,5\'11"\n'
    parsed = delimited.parse_range(data, 1, ",", 2, WANTED, has_header=True)
    assert parsed.table.to_pydict() == {
        "email": ["a@x.com", "b@x.com", "c@x.com"],
        "name": ['O"Brien', "Multi\nline", "5'11\""],
        "_line": [2, 3, 5],
    }
    assert parsed.dead == []


@pytest.mark.parametrize(("span", "joined"), [(3, True), (4, False)])
def test_a_quoted_field_may_span_up_to_the_bound(span: int, joined: bool) -> None:
    note = b"\n".join(b"part %d" % i for i in range(span))
    data = b'email,name\na@x.com,"' + note + b'"\nb@x.com,B\n'
    parsed = delimited.parse_range(data, 1, ",", 2, WANTED, has_header=True, max_quoted_lines=3)
    emails = parsed.table.column("email").to_pylist()
    if joined:
        assert emails == ["a@x.com", "b@x.com"] and parsed.dead == []
    else:  # the opening line is stray; the lines after it are records of their own
        assert parsed.dead[0][:2] == (2, "unbalanced quote")
        assert "b@x.com" in emails
    assert parsed.read == parsed.table.num_rows + len(parsed.dead) + parsed.headers


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("block", "target"), [(7, 10), (64, 64), (1000, 200)])
def test_ranges_with_stray_quotes_equal_the_whole_file(seed: int, block: int, target: int) -> None:
    rng = np.random.default_rng(seed)
    rows = [b"email,name"]
    for i in range(150):
        r = rng.random()
        if r < 0.1:
            rows.append(b'e%d@x.com,"Multi\nLine %d"' % (i, i))
        elif r < 0.15:
            rows.append(b'e%d@x.com,"stray %d' % (i, i))
        elif r < 0.2:
            rows.append(b'e%d@x.com,O"Brien %d' % (i, i))
        else:
            rows.append(b"e%d@x.com,N%d" % (i, i))
    data = b"\n".join(rows) + b"\n"
    quoting = delimited.Quoting(",", max_lines=4)

    def parse(chunk: bytes, line: int, header: bool, plain: bool) -> delimited.ParsedRange:
        return delimited.parse_range(chunk, line, ",", 2, WANTED, header, plain, quoting.max_lines)

    whole = parse(data, 1, True, False)
    blocks = iter([data[i : i + block] for i in range(0, len(data), block)])
    lines: list[int] = []
    dead: list[tuple[int, str, str]] = []
    for start, end, line, plain in delimited.plan_ranges(blocks, target, quoting):
        part = parse(data[start:end], line, start == 0, plain)
        lines += part.table.column("_line").to_pylist()
        dead += part.dead
    assert lines == whole.table.column("_line").to_pylist()
    assert dead == whole.dead
    assert {reason for _, reason, _ in whole.dead} <= {"unbalanced quote", "ragged row: 1 fields, expected 2"}


@pytest.mark.parametrize("target", [1, 50, 333, 4096])
@pytest.mark.parametrize("quoting", [delimited.Quoting(",", 3), None])
def test_planning_a_file_equals_planning_its_stream(target: int, quoting: delimited.Quoting | None) -> None:
    rng = np.random.default_rng(target)
    kinds = [b'e%d,"Multi\nLine %d"', b'e%d,"stray %d', b"e%d,N%d", b'e%d,O"B %d']
    data = b"".join(kinds[int(rng.integers(4))] % (i, i) + b"\n" for i in range(400))
    blocks = iter([data[i : i + 97] for i in range(0, len(data), 97)])
    planned = list(delimited.plan_file(io.BytesIO(data), target, quoting))
    assert planned == list(delimited.plan_ranges(blocks, target, quoting))
    assert planned[0][0] == 0 and planned[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(planned))


def test_a_range_parsed_from_a_reused_buffer_keeps_no_reference_to_it() -> None:
    data = b"email,name\n" + b"".join(b"u%d@x.com,Name %d\n" % (i, i) for i in range(1000))
    buffer = bytearray(data)
    with memoryview(buffer) as view:
        parsed = delimited.parse_range(view, 1, ",", 2, WANTED, has_header=True, plain_lines=True)
    buffer[:] = b"#" * len(buffer)  # the next range overwrites the buffer
    assert parsed.table.column("email").to_pylist() == [f"u{i}@x.com" for i in range(1000)]
    assert parsed.table.column("_line").to_pylist() == list(range(2, 1002))


def _record_spans(
    data: bytes, quoted: bool, cap: int, max_lines: int = delimited.MAX_QUOTED_LINES
) -> list[tuple[int, int]]:
    """Reference: [start, end) of every record, its newline included, line by line: a line with an odd
    number of quotes whose last field opens one starts a quoted field that the next odd line closes,
    if it comes within ``max_lines`` lines and no line on the way is longer than ``cap``."""
    lines = data.splitlines(keepends=True)
    starts = [sum(len(line) for line in lines[:i]) for i in range(len(lines) + 1)]
    odd = [line.count(b'"') % 2 == 1 for line in lines]
    spans, i = [], 0
    while i < len(lines):
        end = i
        opens = quoted and odd[i] and len(lines[i]) <= cap
        if opens and delimited._opener(",").fullmatch(lines[i].rstrip(b"\n")):
            j = next((j for j in range(i + 1, len(lines)) if odd[j] or len(lines[j]) > cap), None)
            if j is not None and odd[j] and len(lines[j]) <= cap and j - i < max_lines:
                end = j
        spans.append((starts[i], starts[end + 1]))
        i = end + 1
    return spans


def _random_records(rng: np.random.Generator, quoted: bool) -> bytes:
    records = []
    for _ in range(int(rng.integers(1, 40))):
        pieces = [b"x" * int(rng.choice([0, 2, 9, 40, 150]))]
        if quoted and rng.random() < 0.4:
            pieces.append(b'"q\n' + b"y" * int(rng.integers(0, 90)) + b'"')
        elif quoted and rng.random() < 0.15:
            pieces.append(b'"stray')  # opens a quote (when the record starts with it) that may never close
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
    spans = _record_spans(data, quoted, cap)
    quoting = delimited.Quoting() if quoted else None
    planned = list(
        delimited.plan_ranges((data[i : i + block] for i in range(0, len(data), block)), target, quoting, cap)
    )
    assert planned == list(delimited.plan_file(io.BytesIO(data), target, quoting, cap))
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
