"""Every user-facing string is extracted and translated into Simplified Chinese."""
import re
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "web" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def test_every_extracted_string_has_a_chinese_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "_l",
                                "-k", "lazy_gettext", "-o", str(pot), str(ROOT)])
    with pot.open("rb") as handle:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    assert len(wanted) > 100, "extraction found too little: check babel.cfg"
    missing = sorted(wanted - translated)
    assert not missing, f"untranslated (run `make extract-messages` and translate): {missing}"


# ---- domain messages: codes raised in tenants/ are rendered in the reader's language (web/domain_messages.py)

_CODE_LITERAL = re.compile(r"""\bcode\s*=\s*["']([a-z_]+(?:\.[a-z_0-9]+)+)["']""")
_ROW_CODE = re.compile(r"""(?:_fail|_reject)\(\s*["']([a-z_]+(?:\.[a-z_0-9]+)+)["']"""
                       r"""|\(\s*["'][a-z_]*["'],\s*["']([a-z_]+(?:\.[a-z_]+)+)["'],""")


def _codes_raised_in_tenants() -> dict[str, str]:
    """Every literal error code of the domain, with a file that raises it: `code="…"` arguments and class
    attributes, and the import's row and file codes (`_fail("…")`, `_reject("…")`, `(slot, "code", …)` problems)."""
    found = {}
    for path in sorted((ROOT / "tenants").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in _CODE_LITERAL.finditer(text):
            found.setdefault(match.group(1), str(path.relative_to(ROOT)))
        if "portfolios" in path.parts:
            for match in _ROW_CODE.finditer(text):
                found.setdefault(match.group(1) or match.group(2), str(path.relative_to(ROOT)))
    return found


def test_every_code_raised_in_the_domain_is_catalogued_or_english_only_for_a_reason():
    from web.domain_messages import ENGLISH_ONLY, entry_for

    codes = _codes_raised_in_tenants()
    assert len(codes) > 150, "the code scan found too little: check its patterns"
    uncatalogued = sorted(f"{code} ({where})" for code, where in codes.items()
                          if entry_for(code) is None and code not in ENGLISH_ONLY)
    assert not uncatalogued, ("codes that reach users with an English-only message: add them to "
                              f"web/domain_messages.py (or to ENGLISH_ONLY with the reason): {uncatalogued}")
    assert all(reason.strip() for reason in ENGLISH_ONLY.values())


def test_every_catalogued_message_renders_in_chinese(app):
    """Each template of each code has a translation that keeps its parameters, so it renders in Chinese."""
    from flask_babel import force_locale

    from web.domain_messages import FIELD_DESCRIPTIONS, FIELD_LABELS, FIELD_MESSAGES, MESSAGES

    untranslated = []
    with app.test_request_context(), force_locale("zh_CN"):
        templates = [(code, t) for code, entry in MESSAGES.items() for t in entry]
        templates += [(f"field {name}", t) for table in (FIELD_LABELS, FIELD_DESCRIPTIONS, FIELD_MESSAGES)
                      for name, t in table.items()]
        for code, template in templates:
            english, text = template._args[0], str(template)
            if text == english:
                untranslated.append(code)
            assert set(re.findall(r"%\((\w+)\)s", english)) == set(re.findall(r"%\((\w+)\)s", text)), code
    assert not untranslated, f"catalogued messages without a Chinese translation: {untranslated}"


def test_a_stored_row_error_reads_in_the_language_of_whoever_reads_it(app):
    from flask_babel import force_locale

    from tenants.portfolios.rows import CellError
    from web.domain_messages import describe_cell_error

    stored = CellError("本金", "money.negative", "'-5' is negative; amounts owed must be zero or more.",
                       {"value": "-5"})
    legacy = CellError("本金", "money.negative", "'-5' is negative; amounts owed must be zero or more.")
    with app.test_request_context():
        with force_locale("en"):
            assert describe_cell_error(stored) == stored.message
        with force_locale("zh_CN"):
            assert describe_cell_error(stored) == "“-5”为负数；欠款金额必须大于或等于零。"
            assert describe_cell_error(legacy) == "该金额为负数；欠款金额必须大于或等于零。", "stored before params"
