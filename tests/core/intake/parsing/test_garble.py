"""Garbled text layers and control codes never reach the index as if they were text."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdf_factory import make_pdf

from embeddinggemma_rag.core.errors import NoTextDocument
from embeddinggemma_rag.core.intake.parsing import ParserWorker, parse_file
from embeddinggemma_rag.core.intake.parsing.garble import is_garbled

# The start of what pypdf extracts from pdfminer.six's samples/jo.pdf, a Japanese text set in
# a font without a Unicode map: Greek, Coptic, Indic and CJK code points strewn together.
JO_PDF_TEXT = "ɹɹং\nΘͨ͘͠ͱ͍;ݱ\u09c5\u0378၊ఆ͞Εͨ༗ަػྲྀి౯ͷͻͱͭͷ੨͍র໌Ͱ͢ớ͋ΒΏΔಁ໌ͳ༓ྶͷෳ߹ମỜ෩ܠ\u038dΈΜͳͱ"
MOJIBAKE = "The cafÃ© rÃ©sumÃ© says itâ€™s open: Ã©tÃ© Ã  la plage, crÃ¨me brÃ»lÃ©e."


@pytest.mark.parametrize(
    ("text", "garbled"),
    [
        (JO_PDF_TEXT, True),
        (MOJIBAKE, True),
        ("Der Bär läuft über die Straße und trinkt Kaffee im Café, sagte François.", False),
        ("宮沢賢治は日本の詩人であり、童話作家である。彼の作品には銀河鉄道の夜がある。", False),
        ("Москва — столица России. The city has many museums, the Tretyakov Gallery.", False),
        ("Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και έχει πολλά μουσεία, x = 1.", False),
        ("x² + y² = r², ∑ᵢ αᵢ βᵢ ≤ ∫ f(x) dx where α, β ∈ ℝ; the proof is in lemma 3.", False),
        ("Replacement \ufffd\ufffd\ufffd\ufffd bearings \ufffd\ufffd\ufffd ordered", True),
    ],
)
def test_garbled_text_is_told_from_real_text(text: str, garbled: bool) -> None:
    assert is_garbled(text) is garbled


def test_garbled_pdf_page_is_left_out_with_a_warning(tmp_path: Path) -> None:
    pdf = tmp_path / "mixed.pdf"
    pdf.write_bytes(make_pdf(["A readable first page about pumps.", MOJIBAKE], win_ansi=True))
    # With OCR off the garbled page cannot be read again: it is dropped and said so.
    with ParserWorker(timeout_seconds=60, ocr=False) as worker:
        document = worker.parse(pdf)
    assert document.pages[0].text.startswith("A readable first page")
    assert document.pages[1].text == ""
    assert document.warning is not None and "page 2" in document.warning
    assert "garbled" in document.warning


def test_wholly_garbled_pdf_is_no_text_not_indexed(tmp_path: Path) -> None:
    pdf = tmp_path / "garbled.pdf"
    pdf.write_bytes(make_pdf([MOJIBAKE], win_ansi=True))
    with (
        ParserWorker(timeout_seconds=60, ocr=False) as worker,
        pytest.raises(NoTextDocument, match="garbled"),
    ):
        worker.parse(pdf)


def test_control_characters_never_reach_the_text(tmp_path: Path) -> None:
    pdf = tmp_path / "math.pdf"
    pdf.write_bytes(make_pdf(["Let \x1bx\x02 be \x07positive\x0b.\tTab stays."]))
    text = parse_file(pdf).text
    assert not any(ord(c) < 32 and c not in "\t\n" for c in text)
    assert "Tab stays" in text
    note = tmp_path / "note.txt"
    note.write_bytes(b"ESC here: \x1b[31mred\x1b[0m\nnext line\tend")
    assert parse_file(note).text == "ESC here: [31mred[0m\nnext line\tend"
