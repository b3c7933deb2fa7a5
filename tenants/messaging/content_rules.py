"""The content rules of a message template, checked before a lender may approve it.

``check(channel, locale, subject, body, target, rulebook) -> [Finding]`` is pure. Which rules apply comes from the
rulebook of the lender's jurisdiction: a rule is checked only when the rulebook has it.

* CN.PROHIBITED, UK.PRESSURE — prohibited phrases (English and Chinese lexicons): false authority, threats, fake
  blacklists, exposure to contacts or the public, extra fees, insults (block); legal action and pressure (warn).
* US.DISCLOSURE — a message to the debtor says it is from a debt collector (12 CFR 1006.18(e)).
* US.EOPTOUT — every SMS and email carries a clear opt-out (12 CFR 1006.6(e)).
* PLATFORM.OPTOUT — elsewhere, every SMS tells how to opt out (in China: 回复TD退订), since the platform honours
  opt-outs per channel and a debtor must be told how to use one.
* CN.3P.CONTENT, US.3P — a message to a third party mentions no debt, amount or overdue status, in words or
  through a placeholder.
"""
import re
import unicodedata
from dataclasses import asdict, dataclass

from tenants.conduct.rulebook import Rulebook
from tenants.messaging import lexicons
from tenants.messaging.lexicons import BLOCK
from tenants.messaging.rendering import TemplateProblem, placeholders

PROHIBITED_RULES = ("CN.PROHIBITED", "UK.PRESSURE", "US.MISREP")
THIRD_PARTY_RULES = ("CN.3P.CONTENT", "US.3P")
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")
# What a sender might slip between Chinese characters to dodge a lexicon (法 院, 黑-名-单). Sentence punctuation
# (，。) is not filler: 晚上，门店 must not read as 上门.
_FILLER = re.compile(r"[\s*\-_.·•~|/\\]+")


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: str  # block | warn
    message_en: str
    message_zh: str
    phrase: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def blocking(findings: list[dict]) -> list[dict]:
    return [f for f in findings if f["severity"] == BLOCK]


def check(channel: str, locale: str, subject: str | None, body: str, target: str,
          rulebook: Rulebook) -> list[Finding]:
    source = "\n".join(part for part in (subject, body) if part)
    text = _normalise(_PLACEHOLDER.sub(" ", source))
    findings = []
    for rule_id in PROHIBITED_RULES:
        if rulebook.has(rule_id):
            findings += _prohibited(rule_id, text)
    if rulebook.has("US.DISCLOSURE") and target == "debtor" and not _contains_any(text, lexicons.DISCLOSURES):
        findings.append(Finding("US.DISCLOSURE", BLOCK,
                                "Say that the message is from a debt collector (e.g. \"This is a communication "
                                "from a debt collector.\").",
                                "须说明本信息来自债务催收方（例如“This is a communication from a debt collector.”）。"))
    findings += _opt_out(channel, locale, text, rulebook)
    if target == "third_party":
        for rule_id in THIRD_PARTY_RULES:
            if rulebook.has(rule_id):
                findings += _third_party(rule_id, text, source)
    return findings


def _prohibited(rule_id: str, text: str) -> list[Finding]:
    squeezed = _FILLER.sub("", text)
    found = _matches(lexicons.PROHIBITED_EN, lambda p: _english_spans(text, p))
    found += _matches(lexicons.PROHIBITED_ZH, lambda p: _spans(squeezed, p))
    findings, seen = [], set()
    for category, phrase, _span, inside_longer in found:
        if inside_longer or phrase in seen:  # 征信黑名单 is one finding, not also 黑名单
            continue
        seen.add(phrase)
        severity, why_en, why_zh = lexicons.CATEGORIES[category]
        findings.append(Finding(rule_id, severity, f"\u201c{phrase}\u201d {why_en}.",
                                f"\u201c{phrase}\u201d{why_zh}。", phrase))
    return findings


def _matches(lexicon: dict, spans_of) -> list[tuple[str, str, tuple[int, int], bool]]:
    """(category, phrase, span, inside a longer match) for every occurrence of a lexicon's phrases."""
    found = [(category, p, span) for category, phrases in lexicon.items() for p in phrases for span in spans_of(p)]
    return [(category, phrase, span,
             any(len(other) > len(phrase) and s[0] <= span[0] and span[1] <= s[1] for _, other, s in found))
            for category, phrase, span in found]


def _opt_out(channel: str, locale: str, text: str, rulebook: Rulebook) -> list[Finding]:
    if rulebook.has("US.EOPTOUT"):
        rule_id, channels = "US.EOPTOUT", ("sms", "email")
    elif rulebook.has("PLATFORM.OPTOUT"):
        rule_id, channels = "PLATFORM.OPTOUT", ("sms",)
    else:
        return []
    if channel not in channels or _contains_any(text, lexicons.OPT_OUT[channel]):
        return []
    example = lexicons.OPT_OUT_EXAMPLE.get(locale, lexicons.OPT_OUT_EXAMPLE["en"])
    if channel == "email":
        return [Finding(rule_id, BLOCK, "Tell the debtor how to unsubscribe from these emails, free of charge.",
                        "须告知债务人如何免费退订此类邮件。")]
    return [Finding(rule_id, BLOCK, f"Tell the debtor how to opt out of text messages (e.g. \u201c{example}\u201d).",
                    f"须告知债务人退订短信的方式（例如“{example}”）。")]


def _third_party(rule_id: str, text: str, source: str) -> list[Finding]:
    findings = []
    try:
        disclosing = sorted(placeholders(source) & set(lexicons.DEBT_PLACEHOLDERS))
    except TemplateProblem:
        disclosing = []  # an invalid template is refused when saved; its words are still checked here
    for name in disclosing:
        findings.append(Finding(rule_id, BLOCK, f"{{{{ {name} }}}} tells a third party about the debt.",
                                f"{{{{ {name} }}}}会向第三方透露债务信息。", name))
    squeezed = _FILLER.sub("", text)
    words = [w for w in lexicons.DEBT_WORDS_EN if _english_spans(text, w)]
    words += [w for w in lexicons.DEBT_WORDS_ZH if w in squeezed]
    for word in words:
        findings.append(Finding(rule_id, BLOCK, f"\u201c{word}\u201d tells a third party about the debt or its "
                                "amount or overdue status.", f"\u201c{word}\u201d会向第三方透露欠款、金额或逾期情况。",
                                word))
    return findings


def _normalise(text: str) -> str:
    """Full-width letters and digits folded (ＳＴＯＰ → stop), case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _english_spans(text: str, phrase: str) -> list[tuple[int, int]]:
    pattern = r"(?<![\w-])" + r"\s+".join(re.escape(w) for w in phrase.casefold().split()) + r"(?![\w-])"
    return [m.span() for m in re.finditer(pattern, text, flags=re.ASCII)]


def _spans(text: str, phrase: str) -> list[tuple[int, int]]:
    return [(m.start(), m.start() + len(phrase)) for m in re.finditer(re.escape(phrase), text)]


def _contains_any(text: str, markers: tuple[str, ...]) -> bool:
    squeezed = _FILLER.sub("", text)
    return any(_english_spans(text, m) if m.isascii() else m in squeezed for m in markers)
