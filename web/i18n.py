"""Language choice: the user's saved preference, else this browser session's, else Accept-Language."""
from flask import Blueprint, g, redirect, request, session, url_for
from flask_login import current_user

from tenants.context import platform_scope
from tenants.db import db
from web.auth.redirects import safe_next

LANGUAGES = {"en": "English", "zh_CN": "简体中文"}

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    if g.get("portal_locale") in LANGUAGES:  # the debtor's portal (web/portal): its own session's language
        return g.portal_locale
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    best = request.accept_languages.best_match(["en", "zh_CN", "zh", "zh-CN", "zh-Hans"])
    return "zh_CN" if best and best.startswith("zh") else "en"


@bp.route("/lang", methods=["POST"])
def switch():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
        if current_user.is_authenticated:
            with platform_scope("language switch: the person's own setting, on any page"):
                current_user.user.locale = lang
                db.session.commit()
    return redirect(safe_next(request.form.get("next")) or url_for("auth.index"))
