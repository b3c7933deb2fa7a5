"""Settings › Webhooks: a tenant's endpoints, each with its deliveries (status, attempts, answer) and a button to
send one again; the signing secret shown once at creation and at each rotation."""
import uuid

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from tenants.capabilities import Capability
from tenants.db import db
from tenants.errors import DomainError, NotFound
from tenants.webhooks import endpoints
from tenants.webhooks.events import EVENT_TYPES
from web.access import require_capability
from web.domain_messages import describe_error
from web.forms import ActionForm
from web.tenant import bp


def _list_page(status: int = 200, values: dict | None = None):
    return render_template("webhooks/endpoints.html", endpoints=endpoints.list_all(), event_types=EVENT_TYPES,
                           action=ActionForm(), values=values or {}), status


@bp.route("/webhooks")
@require_capability(Capability.SETTINGS_MANAGE)
def webhooks():
    return _list_page()


@bp.route("/webhooks", methods=["POST"])
@require_capability(Capability.SETTINGS_MANAGE)
def webhook_create():
    form = ActionForm()
    values = {"url": request.form.get("url", ""), "description": request.form.get("description", ""),
              "event_types": request.form.getlist("event_types")}
    if not form.validate_on_submit():
        return _list_page(400, values)
    try:
        endpoint, secret = endpoints.create(url=values["url"], event_types=values["event_types"],
                                            description=values["description"], created_by=current_user.id,
                                            allow_private=endpoints.allow_private(current_app.config))
    except DomainError as exc:
        db.session.rollback()
        flash(describe_error(exc), "danger")
        return _list_page(exc.status, values)
    db.session.commit()
    return render_template("webhooks/secret.html", endpoint=endpoint, secret=secret, rotated=False)


@bp.route("/webhooks/<uuid:endpoint_id>")
@require_capability(Capability.SETTINGS_MANAGE)
def webhook_endpoint(endpoint_id: uuid.UUID):
    endpoint = endpoints.get(endpoint_id)
    return render_template("webhooks/endpoint.html", endpoint=endpoint, deliveries=endpoints.deliveries(endpoint),
                           action=ActionForm(), max_overlap=endpoints.MAX_OVERLAP_HOURS,
                           default_overlap=endpoints.DEFAULT_OVERLAP_HOURS)


@bp.route("/webhooks/<uuid:endpoint_id>/rotate", methods=["POST"])
@require_capability(Capability.SETTINGS_MANAGE)
def webhook_rotate(endpoint_id: uuid.UUID):
    endpoint = endpoints.get(endpoint_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("tenant.webhook_endpoint", endpoint_id=endpoint.id))
    try:
        overlap = int(request.form.get("overlap_hours") or endpoints.DEFAULT_OVERLAP_HOURS)
    except ValueError:
        overlap = -1
    try:
        secret = endpoints.rotate_secret(endpoint, overlap_hours=overlap)
    except DomainError as exc:
        db.session.rollback()
        flash(describe_error(exc), "danger")
        return redirect(url_for("tenant.webhook_endpoint", endpoint_id=endpoint_id))
    db.session.commit()
    return render_template("webhooks/secret.html", endpoint=endpoint, secret=secret, rotated=True,
                           overlap_hours=overlap)


def _switch(endpoint_id: uuid.UUID, active: bool):
    endpoint = endpoints.get(endpoint_id)
    if ActionForm().validate_on_submit():
        try:
            endpoints.set_active(endpoint, active)
            db.session.commit()
            flash(_("Endpoint enabled.") if active else _("Endpoint disabled."), "success")
        except DomainError as exc:
            db.session.rollback()
            flash(describe_error(exc), "danger")
    return redirect(url_for("tenant.webhook_endpoint", endpoint_id=endpoint_id))


@bp.route("/webhooks/<uuid:endpoint_id>/disable", methods=["POST"])
@require_capability(Capability.SETTINGS_MANAGE)
def webhook_disable(endpoint_id: uuid.UUID):
    return _switch(endpoint_id, False)


@bp.route("/webhooks/<uuid:endpoint_id>/enable", methods=["POST"])
@require_capability(Capability.SETTINGS_MANAGE)
def webhook_enable(endpoint_id: uuid.UUID):
    return _switch(endpoint_id, True)


@bp.route("/webhooks/deliveries/<uuid:delivery_id>/redeliver", methods=["POST"])
@require_capability(Capability.SETTINGS_MANAGE)
def webhook_redeliver(delivery_id: uuid.UUID):
    delivery = endpoints.get_delivery(delivery_id)
    endpoint_id = delivery.endpoint_id
    if ActionForm().validate_on_submit():
        try:
            endpoints.redeliver(delivery)
            db.session.commit()
            flash(_("The event will be sent again in a moment."), "success")
        except NotFound:
            raise
        except DomainError as exc:
            db.session.rollback()
            flash(describe_error(exc), "danger")
    return redirect(url_for("tenant.webhook_endpoint", endpoint_id=endpoint_id))
