"""The coverage table of the report fonts: every script of identity documents is displayable."""

from __future__ import annotations

import itertools
import json
import unicodedata
from pathlib import Path

import pytest

from sqr_reports.rendering import glyphs

FIXTURES = Path(__file__).parent / "fixtures" / "report_data"

SCRIPTS = {
    "Latin with diacritics": "Zoë Ðặng Łukasz Şebnem Ágnes-Åse Nguyễn Dvořák Ǆurić",
    "Greek": "Ελένη Παπαδοπούλου",
    "Cyrillic": "Анастасия Іванівна Ђорђевић",
    "Armenian": "Անահիտ Հովհաննիսյան",
    "Georgian": "ნინო ბერიძე",
    "Arabic": "فاطمة الزهراء، ٢٥",
    "Hebrew": "שָׂרָה לֵוִי",
    "Devanagari": "प्रिया शर्मा",
    "Bengali": "সুমিত্রা দাস",
    "Gurmukhi": "ਹਰਪ੍ਰੀਤ ਸਿੰਘ",
    "Gujarati": "ગીતા પટેલ",
    "Oriya": "ପ୍ରିୟଙ୍କା",
    "Tamil": "தமிழ்செல்வி",
    "Telugu": "వెంకటేశ్వర",
    "Kannada": "ಕೃಷ್ಣ",
    "Malayalam": "ശ്രീലക്ഷ്മി",
    "Sinhala": "ශ්\u200dරියානි",
    "Thai": "สมชาย ใจดี",
    "Lao": "ສົມພອນ",
    "Khmer": "សុខា ចាន់ធី",
    "Myanmar": "အောင်ဆန်း",
    "Ethiopic": "አበበ ቢቂላ",
    "simplified Chinese": "王小明 北京市朝阳区",
    "traditional Chinese": "陳龍鬱 臺北市信義區",
    "Japanese kana and kanji": "山田たろう ヤマダ ｱｲｳ 髙橋 渡邉 𠮷野",
    "Korean": "김민준 서울특별시",
    "Bopomofo, CJK punctuation, full width": "ㄅㄆㄇ 「、。」 \uff21\uff22\uff23\uff11\uff12\uff13",
}


@pytest.mark.parametrize("text", SCRIPTS.values(), ids=SCRIPTS.keys())
def test_every_script_of_identity_documents_is_displayable(text: str) -> None:
    assert glyphs.undisplayable(text) == []


def test_every_hangul_syllable_and_jamo_is_displayable() -> None:
    syllables = "".join(chr(point) for point in range(0xAC00, 0xD7A4))  # all 11,172
    jamo = "".join(chr(point) for point in range(0x1100, 0x1200))

    assert glyphs.undisplayable(syllables + jamo) == []


def test_every_ideograph_up_to_unicode_12_is_displayable() -> None:
    # Unified ideographs and Extension A as of Unicode 12 (Noto Sans CJK 2.004 predates the
    # 26 added since, U+4DB6-4DBF and U+9FF0-9FFF), and the compatibility ideographs; those
    # the font lacks (U+FA70-FAD9) are drawn from their canonical decomposition, unless it is
    # an Extension B ideograph the font lacks too.
    points = [*range(0x4E00, 0x9FF0), *range(0x3400, 0x4DB6), *range(0xF900, 0xFA6E)]
    compatibility = "".join(map(chr, range(0xFA70, 0xFADA)))

    assert glyphs.undisplayable("".join(map(chr, points))) == []
    missing = glyphs.undisplayable(compatibility)
    assert len(missing) < 10
    assert all(ord(unicodedata.normalize("NFD", char)) > 0x20000 for char in missing)
    assert glyphs.undisplayable("\u9ff0\u4db6") == ["\u9ff0", "\u4db6"]


def test_the_every_script_fixture_is_displayable() -> None:
    data = json.loads((FIXTURES / "every_script.json").read_text(encoding="utf-8"))
    subject = data["subject"]

    assert glyphs.undisplayable(subject["full_name"] + subject["address"]["full_address"]) == []


def test_emoji_and_private_use_characters_are_reported_once_in_order() -> None:
    text = "A\U0001f408B\ue000C\U0001f600 \U0001f408\ue000"

    assert glyphs.undisplayable(text) == ["\U0001f408", "\ue000", "\U0001f600"]


def test_unassigned_code_points_and_lone_surrogates_are_reported() -> None:
    assert glyphs.undisplayable("a\u0378b\ud800c") == ["\u0378", "\ud800"]


def test_format_characters_and_controls_are_never_reported() -> None:
    ignorable = "a\u200db\u200bc\u2764\ufe0f\u2068d\u2069e\u00adf\U000e0001\u202eg\U000e0100"
    controls = "\x00\t\n\r\x1b\x7f\x85\u2028\u2029"

    assert glyphs.undisplayable(ignorable + controls) == []


def test_a_mixed_name_reports_only_what_is_missing() -> None:
    assert glyphs.undisplayable("김민준 \U0001f600 Zoë 龍 \U0001f600") == ["\U0001f600"]


def test_the_coverage_table_is_sorted_and_does_not_overlap() -> None:
    ranges = glyphs.coverage()

    assert len(ranges) > 100
    assert all(first <= last for first, last in ranges)
    assert all(last + 1 < first for (_, last), (first, _) in itertools.pairwise(ranges))
