"""The words the content rules look for, as data: prohibited phrases, required disclosures, opt-out markers and
the words that disclose a debt to a third party. English phrases match whole words (case-insensitive, any
whitespace between words); Chinese phrases match anywhere, also when spaces or symbols are slipped between the
characters (法 院, 黑-名-单).

Each prohibited phrase has a category; the category carries the message shown to the lender (English, Chinese)
and a severity: ``block`` (the template cannot be approved) or ``warn`` (allowed only if true and intended).
"""

BLOCK, WARN = "block", "warn"

CATEGORIES = {
    "authority": (BLOCK, "impersonates or invokes a court, the police or the government",
                  "冒充或假借法院、公安或政府机关名义"),
    "threat": (BLOCK, "threatens arrest, jail, criminal records or a visit",
               "以拘留、坐牢、刑事记录或上门相威胁"),
    "blacklist": (BLOCK, "threatens a (fake) blacklist", "以（虚构的）黑名单相威胁"),
    "exposure": (BLOCK, "threatens to tell the debtor's contacts, employer or the public",
                 "威胁告知债务人的通讯录联系人、单位或公开曝光"),
    "fees": (BLOCK, "demands fees beyond the contract", "收取合同以外的费用"),
    "insult": (BLOCK, "insults the debtor", "侮辱债务人"),
    "legal": (WARN, "mentions legal action: only if it is true and really intended",
              "提及法律措施：仅限真实且确有计划时使用"),
    "pressure": (WARN, "puts pressure on the debtor: keep the tone factual", "向债务人施压：请保持语气客观"),
}

PROHIBITED_EN = {
    "authority": ("court", "courts", "police", "judge", "sheriff", "government", "law enforcement", "bailiff",
                  "bailiffs", "federal agent"),
    "threat": ("arrest", "arrested", "jail", "prison", "criminal record", "criminal charges", "warrant",
               "we will visit you", "come to your home"),
    "blacklist": ("blacklist", "blacklisted", "black list"),
    "exposure": ("contact your employer", "call your employer", "tell your employer", "contact your family",
                 "tell your family", "tell your friends", "your contacts", "social media", "public notice",
                 "expose you"),
    "fees": ("processing fee", "handling fee", "extra fee", "additional fee", "collection fee"),
    "insult": ("deadbeat", "liar", "cheat", "scum"),
    "legal": ("legal action", "lawsuit", "sue", "litigation"),
    "pressure": ("final warning", "last chance"),
}

PROHIBITED_ZH = {
    "authority": ("法院", "公安", "警察", "检察院", "司法机关", "执法", "政府"),
    "threat": ("拘留", "坐牢", "逮捕", "判刑", "刑事责任", "立案", "上门"),
    "blacklist": ("征信黑名单", "黑名单"),
    "exposure": ("通讯录", "曝光", "告知您的亲友", "通知您的单位", "联系您的单位", "朋友圈"),
    "fees": ("手续费", "额外费用", "催收费", "上门费"),
    "insult": ("老赖", "骗子", "无赖"),
    "legal": ("诉讼", "起诉", "律师函"),
    "pressure": ("最后通牒", "最后机会"),
}

# US.DISCLOSURE: the message says it comes from a debt collector (any of these, in either language).
DISCLOSURES = ("debt collector", "attempt to collect a debt", "债务催收")

# How a message tells the debtor to opt out, by channel.
OPT_OUT = {
    "sms": ("stop", "opt out", "opt-out", "unsubscribe", "退订"),
    "email": ("unsubscribe", "opt out", "opt-out", "退订"),
}
# What the opt-out instruction looks like, for the message shown to the lender.
OPT_OUT_EXAMPLE = {"en": "Reply STOP to opt out", "zh-CN": "回复TD退订"}

# Words that tell a third party there is a debt (CN.3P.CONTENT, US.3P).
DEBT_WORDS_EN = ("debt", "debts", "owe", "owes", "owed", "overdue", "arrears", "loan", "repay", "repayment",
                 "balance", "amount due", "outstanding", "collect", "collection", "collector", "past due")
DEBT_WORDS_ZH = ("欠款", "欠钱", "欠费", "逾期", "还款", "借款", "贷款", "债务", "催收", "金额", "利息", "罚息")
# Placeholders whose value discloses the debt.
DEBT_PLACEHOLDERS = ("amount_due", "currency", "due_date", "reference")
