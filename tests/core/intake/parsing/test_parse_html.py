"""HTML: visible text only, block structure kept, titles, entities and charsets."""

from __future__ import annotations

from pathlib import Path

from embeddinggemma_rag.core.intake.parsing import parse_file

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>  The   Page </title>
<style>body { color: red }</style><script>var hidden = "<p>no</p>";</script></head>
<body><noscript>Enable JS</noscript><template><p>template text</p></template>
<h1>Big heading</h1>
<p>First &amp; <b>bold</b>
   paragraph&nbsp;here.</p><p>Line one<br>line two</p>
<ul><li>alpha</li><li>beta</li></ul>
<table><tr><th>k</th><td>v</td></tr></table>
<svg><text>svg label</text></svg><img src="http://example.com/x.png" alt="pic">
</body></html>"""


def parse_html(tmp_path: Path, html: str | bytes, name: str = "page.html") -> tuple[str, str]:
    path = tmp_path / name
    path.write_bytes(html.encode("utf-8") if isinstance(html, str) else html)
    document = parse_file(path)
    return document.title or "", document.pages[0].text


def test_title_and_visible_text(tmp_path: Path) -> None:
    title, text = parse_html(tmp_path, PAGE)

    assert title == "The Page"
    assert text == (
        "Big heading\n\nFirst & bold paragraph\xa0here.\n\nLine one\nline two\n\n"
        "alpha\nbeta\n\nk\tv"
    )


def test_hidden_content_is_dropped(tmp_path: Path) -> None:
    _, text = parse_html(tmp_path, PAGE)

    for hidden in ("color", "var hidden", "Enable JS", "template text", "svg label", "The Page"):
        assert hidden not in text


def test_title_falls_back_to_h1_then_file_name(tmp_path: Path) -> None:
    assert parse_html(tmp_path, "<body><h1>Only <i>h1</i></h1><p>x</p>")[0] == "Only h1"
    assert parse_html(tmp_path, "<p>no headings</p>", "plain.htm")[0] == "plain"


def test_declared_legacy_charset(tmp_path: Path) -> None:
    html = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251"><p>Привет'

    assert parse_html(tmp_path, html.encode("cp1251"))[1] == "Привет"


def test_unclosed_head_elements_do_not_hide_the_body(tmp_path: Path) -> None:
    assert parse_html(tmp_path, "<title>T<body><p>visible")[1] == "visible"
