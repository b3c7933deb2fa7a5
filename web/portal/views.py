"""The portal's pages: thin handlers over tenants.portal (parse → service → render)."""
import uuid

from flask import current_app, g, make_response, redirect, render_template, request, url_for

from tenants.billing.stripe_gateway import StripeGateway, StripeSettings
from tenants.casework.disputes import CATEGORIES
from tenants.db import db
from tenants.money import Money
from tenants.portal import access, links, payments, service
from tenants.portal.models import PortalPaymentStatus
from web.portal import LANG_COOKIE, LANGUAGES, SESSION_COOKIE, _address_key, _date, _int, _secure, bp


def _gateway() -> payments.PaymentsGateway:
    return payments.PaymentsGateway(StripeGateway(StripeSettings.from_config(current_app.config)))


def _form(template: str, **context):
    """Render a form page; a validation error re-renders it with the messages by field."""
    g.form_template, g.form_context = template, context
    return render_template(template, **context, error=None, fields={})


# ---- getting in ---------------------------------------------------------------------------------------------------

@bp.get("/<token>")
def landing(token: str):
    return render_template("portal/landing.html", token=token, sent=request.args.get("sent") == "1",
                           error=None)


@bp.post("/<token>/code")
def ask_code(token: str):
    access.request_code(token, address=_address_key(), config=current_app.config)
    return redirect(url_for("portal.landing", token=token, sent=1))


@bp.post("/<token>/verify")
def verify(token: str):
    try:
        opened = access.verify(token, request.form.get("code", ""), address=_address_key(),
                               locale=g.portal_locale if request.cookies.get(LANG_COOKIE) else None)
    except access.CodeInvalid as exc:
        db.session.rollback()
        return render_template("portal/landing.html", token=token, sent=False, error=exc.message), 422
    response = redirect(url_for("portal.home"))
    response.set_cookie(SESSION_COOKIE, opened.token, httponly=True, samesite="Strict", secure=_secure(),
                        path="/p", max_age=int(access.LIFETIME.total_seconds()))
    return response


@bp.post("/<token>/language")
def pre_language(token: str):
    lang = request.form.get("lang")
    response = redirect(url_for("portal.landing", token=token))
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="Strict", secure=_secure(), path="/p")
    return response


@bp.post("/language")
def language():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        access.set_locale(g.visit, lang)
    return redirect(url_for("portal.home"))


@bp.post("/logout")
def logout():
    access.end(g.visit)
    response = make_response(render_template("portal/ended.html", logged_out=True))
    response.delete_cookie(SESSION_COOKIE, path="/p")
    return response


# ---- the debt -----------------------------------------------------------------------------------------------------

@bp.get("/home")
def home():
    v = service.view(g.visit)
    return render_template("portal/home.html", v=v, notice=request.args.get("done"))


# ---- a plan, a settlement, more time --------------------------------------------------------------------------------

@bp.route("/plan", methods=["GET", "POST"])
def plan():
    v = service.view(g.visit)
    if request.method == "GET":
        return _form("portal/plan.html", v=v)
    g.form_template, g.form_context = "portal/plan.html", {"v": v}
    made = service.propose_plan(g.visit, count=_int("instalment_count"), frequency=request.form.get("frequency", ""),
                                first_due_on=_date("first_due_on"))
    db.session.commit()
    return redirect(url_for("portal.home", done=f"plan_{made.status}"))


@bp.route("/settle", methods=["GET", "POST"])
def settle():
    v = service.view(g.visit)
    if request.method == "GET":
        return _form("portal/settle.html", v=v)
    g.form_template, g.form_context = "portal/settle.html", {"v": v}
    made = service.propose_settlement(g.visit, amount=request.form.get("amount", ""))
    db.session.commit()
    return redirect(url_for("portal.home", done=f"settlement_{made.status}"))


@bp.route("/time", methods=["GET", "POST"])
def more_time():
    v = service.view(g.visit)
    if request.method == "GET":
        return _form("portal/time.html", v=v)
    g.form_template, g.form_context = "portal/time.html", {"v": v}
    made = service.ask_for_time(g.visit, pay_by=_date("pay_by"), amount=request.form.get("amount") or None)
    db.session.commit()
    return redirect(url_for("portal.home", done=f"extension_{made.status}"))


# ---- a dispute, preferences, proof ----------------------------------------------------------------------------------

def _uploads(name: str) -> list[service.Upload]:
    return [service.Upload(filename=f.filename or "document", content_type=f.mimetype, data=f.read())
            for f in request.files.getlist(name) if f and f.filename]


@bp.route("/dispute", methods=["GET", "POST"])
def dispute():
    v = service.view(g.visit)
    if request.method == "GET":
        return _form("portal/dispute.html", v=v, categories=CATEGORIES)
    g.form_template, g.form_context = "portal/dispute.html", {"v": v, "categories": CATEGORIES}
    service.dispute(g.visit, category=request.form.get("category", ""), reason=request.form.get("reason", ""),
                    documents=_uploads("documents"))
    db.session.commit()
    return redirect(url_for("portal.home", done="dispute_done"))


CHANNELS = ("call", "sms", "email", "letter", "visit")


@bp.route("/preferences", methods=["GET", "POST"])
def preferences():
    v = service.view(g.visit)
    if request.method == "GET":
        return _form("portal/preferences.html", v=v, channels=CHANNELS)
    g.form_template, g.form_context = "portal/preferences.html", {"v": v, "channels": CHANNELS}
    windows = []
    start, end = request.form.get("inconvenient_from", ""), request.form.get("inconvenient_to", "")
    if start or end:
        windows.append((start, end))
    hours = None
    if request.form.get("preferred_from") or request.form.get("preferred_to"):
        hours = (request.form.get("preferred_from", ""), request.form.get("preferred_to", ""))
    service.set_preferences(g.visit, opted_out_channels=[c for c in request.form.getlist("opted_out")
                                                         if c in CHANNELS],
                            inconvenient_windows=windows, agreed_hours=hours)
    db.session.commit()
    return redirect(url_for("portal.home", done="preferences_done"))


@bp.route("/proof", methods=["GET", "POST"])
def proof():
    v = service.view(g.visit)
    if request.method == "GET":
        return _form("portal/proof.html", v=v)
    g.form_template, g.form_context = "portal/proof.html", {"v": v}
    uploads = _uploads("document")
    service.upload_proof(g.visit, document=uploads[0] if uploads else service.Upload("", None, b""),
                         amount=request.form.get("amount", ""), paid_on=_date("paid_on"),
                         reference=request.form.get("reference"))
    db.session.commit()
    return redirect(url_for("portal.home", done="proof_awaiting_collector"))


# ---- the agreement --------------------------------------------------------------------------------------------------

@bp.route("/agreement", methods=["GET", "POST"])
def agreement():
    v = service.view(g.visit)
    found, _document = service.agreement_document(g.visit)
    db.session.commit()  # an approved settlement's agreement may have been prepared just now
    if request.method == "GET":
        return _form("portal/agreement.html", v=v, agreement=found)
    g.form_template, g.form_context = "portal/agreement.html", {"v": v, "agreement": found}
    service.sign(g.visit, typed_name=request.form.get("typed_name", ""),
                 acknowledged=request.form.get("acknowledged") == "yes")
    db.session.commit()
    return redirect(url_for("portal.home", done="agreement_signed"))


@bp.get("/agreement/document")
def agreement_document():
    _found, document = service.agreement_document(g.visit)
    db.session.commit()
    response = make_response(document)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    # The document's own <style>, nothing else: no script, no form, no frame.
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; "
                                                   "frame-ancestors 'none'; form-action 'none'; base-uri 'none'")
    return response


# ---- paying -------------------------------------------------------------------------------------------------------

CHECKOUT_ORIGIN = "https://checkout.stripe.com"


def _allow_checkout(response, gateway: payments.PaymentsGateway):
    """On Stripe's API the pay form's answer is a redirect to Stripe's hosted page: the page's CSP lets that form
    go there (and nowhere else); still no third-party script."""
    if not gateway.standin:
        from web.security import CSP

        response.headers["Content-Security-Policy"] = CSP.replace("form-action 'self'",
                                                                  f"form-action 'self' {CHECKOUT_ORIGIN}")
    return response


@bp.route("/pay", methods=["GET", "POST"])
def pay():
    v = service.view(g.visit)
    methods = payments.enabled_methods(v.case.lender)
    suggested = Money(v.next_due_minor or v.case.account.outstanding_minor, v.case.account.currency).decimal()
    context = {"v": v, "methods": methods, "available": payments.destination_of(v.case.lender) is not None,
               "suggested": str(suggested)}
    gateway = _gateway()
    if request.method == "GET":
        return _allow_checkout(make_response(_form("portal/pay.html", **context)), gateway)
    g.form_template, g.form_context = "portal/pay.html", context
    # Stripe's hosted page sends the debtor back to a page that needs no session cookie (a SameSite=Strict cookie
    # is not sent on a navigation from another site), which leads on to the payment's page.
    return_url = f"{links.base_url()}{url_for('portal.returned')}?ref={{ref}}"
    started = payments.start(g.visit, amount=request.form.get("amount", ""),
                             method=request.form.get("method", "card"), gateway=gateway, return_url=return_url)
    db.session.commit()
    if started.checkout_url:
        return redirect(started.checkout_url, code=303)
    return redirect(url_for("portal.payment", ref=started.payment.id))


@bp.get("/returned")
def returned():
    """Back from Stripe's hosted page (public: shows nothing but the way on; the payment page checks the session)."""
    ref = _payment_ref()
    return render_template("portal/returned.html", next_url=url_for("portal.payment", ref=ref))


def _payment_ref() -> uuid.UUID:
    """The payment is named in the query, never in the path: one of this session's account's, else 404."""
    try:
        return uuid.UUID(request.args.get("ref", ""))
    except ValueError:
        from tenants.errors import NotFound

        raise NotFound(code="portal.payment_not_found") from None


@bp.route("/payment", methods=["GET", "POST"])
def payment():
    payment_id = _payment_ref()
    gateway = _gateway()
    if request.method == "POST":
        row = payments.of_visit(g.visit, payment_id)
        g.form_template, g.form_context = "portal/payment.html", {"row": row, "standin": gateway.standin}
        try:
            payments.pay_on_standin(g.visit, payment_id, request.form.get("card_number", ""), gateway)
            db.session.commit()
        except payments.PaymentRefused as refused:
            db.session.commit()  # the failure is recorded
            row = payments.of_visit(g.visit, payment_id)
            return render_template("portal/payment.html", row=row, standin=gateway.standin, error=refused.message,
                                   fields={}), refused.status
        return redirect(url_for("portal.payment", ref=payment_id))
    refreshed = payments.refresh(g.visit, payment_id, gateway)
    db.session.commit()
    row = refreshed.row
    return render_template("portal/payment.html", row=row, standin=gateway.standin, error=None, fields={},
                           checkout_url=refreshed.checkout_url,
                           succeeded=row.status == PortalPaymentStatus.SUCCEEDED)


@bp.app_template_filter("portal_money")
def portal_money(minor: int | None, currency: str) -> str:
    if minor is None:
        return ""
    locale = "zh_CN" if (g.get("portal_locale") or "en").startswith("zh") else "en"
    return Money(int(minor), currency).format(locale)
