"""Content rules of message templates: each rule of each rulebook, in English and Chinese, and the placeholder
language a template may use."""
import re

import pytest

from tenants.conduct.presets import preset
from tenants.messaging import rendering
from tenants.messaging.content_rules import check

CN, US, UK, IE = preset("cn"), preset("us"), preset("uk"), preset("ie")
CN_SMS_OK = "{{ debtor_name }}您好，您在{{ lender_name }}的借款已逾期，请尽快还款。回复TD退订"
US_SMS_OK = "Hi {{ debtor_name }}, this is a debt collector about {{ reference }}. Reply STOP to opt out."


def rules(findings, severity=None):
    return [(f.rule_id, f.phrase) for f in findings if severity is None or f.severity == severity]


def test_clean_templates_have_no_findings():
    assert check("sms", "zh-CN", None, CN_SMS_OK, "debtor", CN) == []
    assert check("sms", "en", None, US_SMS_OK, "debtor", US) == []
    assert check("letter", "en", "Your account", "Please call us about {{ reference }}.", "debtor", UK) == []


@pytest.mark.parametrize("phrase", ["法院", "公安", "拘留", "坐牢", "黑名单", "通讯录", "曝光", "上门", "手续费"])
def test_cn_prohibited_chinese_phrases_block(phrase):
    findings = check("sms", "zh-CN", None, f"您的欠款将移交{phrase}处理。回复TD退订", "debtor", CN)
    assert rules(findings, "block") == [("CN.PROHIBITED", phrase)]
    assert phrase in findings[0].message_zh and phrase in findings[0].message_en


def test_a_credit_blacklist_is_one_finding_and_spacing_does_not_hide_a_phrase():
    findings = check("sms", "zh-CN", None, "逾期将上报征信黑-名-单，并通知法 院。回复TD退订", "debtor", CN)
    assert rules(findings) == [("CN.PROHIBITED", "法院"), ("CN.PROHIBITED", "征信黑名单")]


def test_words_across_a_sentence_break_are_not_a_phrase():
    assert check("sms", "zh-CN", None, "请于今天晚上，门店营业时间内来电。回复TD退订", "debtor", CN) == []


@pytest.mark.parametrize("text,phrase", [
    ("Pay now or the police will arrest you.", "police"),
    ("You will be blacklisted.", "blacklisted"),
    ("We will contact your employer.", "contact your employer"),
    ("A criminal record awaits.", "criminal record"),
    ("A processing fee of 50 applies.", "processing fee"),
])
def test_cn_prohibited_english_phrases_block(text, phrase):
    findings = check("sms", "en", None, text + " Reply STOP to opt out.", "debtor", CN)
    assert ("CN.PROHIBITED", phrase) in rules(findings, "block")


def test_whole_words_only_and_placeholders_are_not_text():
    findings = check("sms", "en", None, "Thank you for your courtesy, {{ debtor_name }}; no issue. Reply STOP.",
                     "debtor", CN)
    assert findings == [], "courtesy is not court, issue is not sue"


def test_legal_action_is_a_warning_not_a_block():
    findings = check("sms", "zh-CN", None, "如仍未还款，我司将依法起诉。回复TD退订", "debtor", CN)
    assert rules(findings) == [("CN.PROHIBITED", "起诉")]
    assert findings[0].severity == "warn"
    findings = check("letter", "en", "Notice", "We may file a lawsuit.", "debtor", UK)
    assert [(f.rule_id, f.phrase, f.severity) for f in findings] == [("UK.PRESSURE", "lawsuit", "warn")]


def test_uk_pressure_covers_false_authority_and_threats():
    findings = check("letter", "en", "Final notice", "Bailiffs will come to your home. Last chance.", "debtor", UK)
    assert rules(findings, "block") == [("UK.PRESSURE", "bailiffs"), ("UK.PRESSURE", "come to your home")]
    assert rules(findings, "warn") == [("UK.PRESSURE", "last chance")]


def test_us_disclosure_required_for_the_debtor_in_english_or_chinese():
    missing = check("letter", "en", "Your account", "Please call us about {{ reference }}.", "debtor", US)
    assert rules(missing, "block") == [("US.DISCLOSURE", None)]
    assert "debt collector" in missing[0].message_en and "债务催收" in missing[0].message_zh
    assert check("letter", "zh-CN", "您的账户", "本函来自债务催收机构。", "debtor", US) == []


@pytest.mark.parametrize("channel,body,ok", [
    ("sms", "This is a debt collector.", False),
    ("sms", "This is a debt collector. Reply STOP to opt out.", True),
    ("sms", "This is a debt collector. 回复TD退订", True),
    ("email", "This is a debt collector.", False),
    ("email", "This is a debt collector. To unsubscribe, reply UNSUBSCRIBE.", True),
    ("letter", "This is a debt collector.", True),
])
def test_us_electronic_messages_carry_an_opt_out(channel, body, ok):
    subject = None if channel == "sms" else "Your account"
    findings = check(channel, "en", subject, body, "debtor", US)
    assert (rules(findings) == []) is ok
    if not ok:
        assert rules(findings, "block") == [("US.EOPTOUT", None)]


def test_cn_sms_needs_the_td_opt_out_and_other_channels_do_not():
    findings = check("sms", "zh-CN", None, "{{ debtor_name }}您好，请尽快联系我们。", "debtor", CN)
    assert rules(findings, "block") == [("PLATFORM.OPTOUT", None)]
    assert "回复TD退订" in findings[0].message_zh and "回复TD退订" in findings[0].message_en
    assert check("letter", "zh-CN", "通知", "{{ debtor_name }}您好，请尽快联系我们。", "debtor", CN) == []
    assert rules(check("sms", "en", None, "Please call us.", "debtor", IE)) == [("PLATFORM.OPTOUT", None)]


def test_cn_third_party_templates_never_mention_the_debt():
    clean = check("sms", "zh-CN", None, "您好，请转告{{ debtor_name }}联系{{ lender_name }}。回复TD退订",
                  "third_party", CN)
    assert clean == []
    findings = check("sms", "zh-CN", None, "请转告{{ debtor_name }}：欠款{{ amount_due }}已逾 期。回复TD退订",
                     "third_party", CN)
    assert rules(findings, "block") == [("CN.3P.CONTENT", "amount_due"), ("CN.3P.CONTENT", "欠款"),
                                        ("CN.3P.CONTENT", "逾期")]
    english = check("sms", "en", None, "Tell {{ debtor_name }} the loan is overdue. Reply STOP.", "third_party", CN)
    assert rules(english) == [("CN.3P.CONTENT", "overdue"), ("CN.3P.CONTENT", "loan")]


def test_the_same_words_are_fine_for_the_debtor():
    assert check("sms", "zh-CN", None, "您的欠款{{ amount_due }}已逾期。回复TD退订", "debtor", CN) == []


def test_us_third_party_messages_neither_mention_the_debt_nor_need_the_disclosure():
    findings = check("sms", "en", None, "Please ask {{ debtor_name }} to call us. Reply STOP to opt out.",
                     "third_party", US)
    assert findings == []
    findings = check("sms", "en", None, "{{ debtor_name }} owes {{ amount_due }}. Reply STOP.", "third_party", US)
    assert rules(findings) == [("US.3P", "amount_due"), ("US.3P", "owes")]


def test_fullwidth_text_is_folded_before_matching():
    findings = check("sms", "en", None, "ＰＯＬＩＣＥ. Reply ＳＴＯＰ.", "debtor", CN)
    assert rules(findings) == [("CN.PROHIBITED", "police")]


# ---- the placeholder language ----------------------------------------------------------------------------------

def test_known_placeholders_render_in_the_template_language():
    values = rendering.values_for(debtor_name="张三", outstanding_minor=123_456, currency="CNY", reference="L-1",
                                  agency_name="华夏催收", lender_name="金信", due_date=None, locale="zh-CN")
    text = rendering.render("{{ debtor_name }}：{{ amount_due }}（{{ reference }}）{{ due_date }}", values)
    assert text == "张三：¥1,234.56（L-1）"


@pytest.mark.parametrize("source,problem", [
    ("Hi {{ first_name }}", "Unknown placeholder {{ first_name }}"),
    ("Hi {{ debtor_name|upper }}", "without filters"),
    ("{% for x in range(9) %}x{% endfor %}", "no {% ... %} statements"),
    ("Hi {{ debtor_name.__class__ }}", "without filters or expressions"),
    ("Hi {{ debtor_name ", "Line 1"),
])
def test_anything_but_text_and_known_placeholders_is_refused(source, problem):
    with pytest.raises(rendering.TemplateProblem, match=re.escape(problem)):
        rendering.placeholders(source)
