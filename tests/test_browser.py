"""Pages in a real browser: the demo run's report.html in headless Chromium loads without a console error,
fits a laptop screen, prints, and shows the verdict and the row counts; a page made from a hostile dump,
and a reverify diff, run nothing. Screenshots are left in each test's tmp folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines import demo
from tests.cdp import Tab, chromium, find_browser
from tests.test_report_html import HOSTILE, demo_report, diff_document
from transforms import html_report

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no chromium on PATH: `make test` installs Debian's chromium package (apt-get install chromium)",
)
LAPTOP = (1280, 800)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("demo")
    report = demo.run(["--out", str(out)])
    return report, out / "run" / "report.html"


def _look(tab: Tab, page: Path, shot: Path) -> str:
    """Opens the page at laptop size, checks nothing failed and nothing overflows, leaves a screenshot."""
    tab.open(page, *LAPTOP)
    assert tab.errors() == []
    assert tab.screenshot(shot).read_bytes().startswith(PNG)
    assert tab.evaluate("document.documentElement.scrollWidth") <= LAPTOP[0]  # wide tables scroll inside
    return str(tab.evaluate("document.body.innerText"))


def test_the_demo_report_in_a_browser(demo_run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    report, page = demo_run
    assert BROWSER is not None
    with chromium(BROWSER, tmp_path / "profile") as tab:
        text = _look(tab, page, tmp_path / "report.png")
        rows = report["rows"]
        assert report["verdict"]["label"].upper() in text  # shown in capitals by the stylesheet
        assert f"confidence {report['verdict']['confidence']:.0%}" in text
        assert f"{rows['read']:,}\nrows read" in text
        assert f"{rows['read']:,} records read = {rows['parsed']:,} parsed + {rows['dead_lettered']:,}" in text
        assert f"{report['records']['candidates']:,}\nrows linked to a customer" in text
        assert tab.evaluate("document.querySelectorAll('svg rect').length") >= 2  # the charts are drawn
        assert tab.evaluate("document.querySelectorAll('script, link, img, iframe, a').length") == 0
        assert tab.pdf().startswith(b"%PDF")


def test_a_hostile_dump_runs_nothing_in_the_page(tmp_path: Path) -> None:
    bad = " ".join(HOSTILE)
    report = demo_report()
    report["inputs"][0].update(path=bad, columns={"email": bad})
    report["samples"] = [{"source_file": bad, "line": 2, "customer_id": bad, "values": {bad: bad}}]
    page = tmp_path / "report.html"
    page.write_text(html_report.render_run(report, {"options": {"columns": bad}}))
    assert BROWSER is not None
    with chromium(BROWSER, tmp_path / "profile") as tab:
        text = _look(tab, page, tmp_path / "hostile.png")
        assert text.count(bad) >= 4  # every hostile string is there, as text
        assert tab.evaluate("document.querySelectorAll('script, img, [onmouseover], [onerror]').length") == 0


def test_a_reverify_diff_in_a_browser(tmp_path: Path) -> None:
    page = tmp_path / "diff.html"
    page.write_text(html_report.render_diff(diff_document()))
    assert BROWSER is not None
    with chromium(BROWSER, tmp_path / "profile") as tab:
        text = _look(tab, page, tmp_path / "diff.png")
        assert "Material change" in text and "+20" in text
