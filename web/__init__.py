"""The HTTP layer: create_app() wires configuration, extensions, tenancy, auth and blueprints."""
import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import tenants.models  # noqa: F401  (every table registered before first use)
from tenants import clock, pii
from tenants import context as tenant_context
from tenants.db import db
from web import config as app_config
from web import extensions


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(app_config.INSTANCE))
    app.config.update(app_config.build(overrides))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if app.config["PROXY_COUNT"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=app.config["PROXY_COUNT"])

    pii.configure(app_config.keyring(app.config))
    _init_redis_and_clock(app)
    _init_extensions(app)
    _register_blueprints(app)
    return app


def _init_redis_and_clock(app: Flask) -> None:
    from workers import connection, dispatch

    connection.configure(app.config["REDIS_URL"], app.config["EMBEDDED_REDIS_DIR"])
    dispatch.install()
    setting = app.config["TEST_CLOCK"].strip()
    if setting.lower() not in {"", "off"}:
        test_clock = clock.StoredTestClock(connection.connection())
        if setting.lower() != "on" and not test_clock.is_pinned():
            test_clock.set(clock.parse_instant(setting))
        clock.use(test_clock)


def _init_extensions(app: Flask) -> None:
    from web import auth, i18n, rate_limits, statement_counter
    from web.database import configure_engine

    db.init_app(app)
    tenant_context.configure(lock_key=app.config["DB_LOCK_KEY"])
    # Web transactions: bounded (README "Configuration"); the worker sets its own (workers.worker.run).
    tenant_context.set_statement_timeout(int(app.config["DATABASE_STATEMENT_TIMEOUT"] * 1000))
    with app.app_context():
        configure_engine(db.engine)
        statement_counter.install_if_enabled(app, db.engine)
    extensions.migrate.init_app(app, db, directory=str(app_config.ROOT / "migrations"), render_as_batch=True)
    extensions.csrf.init_app(app)
    extensions.bootstrap.init_app(app)
    extensions.babel.init_app(app, locale_selector=i18n.select_locale)
    extensions.login_manager.init_app(app)
    auth.init_login(app)
    rate_limits.init_app(app)
    extensions.api.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from web import cli, errors, input_guard, security, templating, tenancy
    from web.admin import bp as admin_bp
    from web.api import register as register_api
    from web.auth.views import bp as auth_bp
    from web.billing_webhook import bp as billing_webhook_bp
    from web.health import bp as health_bp
    from web.i18n import bp as i18n_bp
    from web.telephony_webhook import bp as telephony_webhook_bp
    from web.tenant import bp as tenant_bp

    tenancy.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    input_guard.init_app(app)
    cli.init_app(app)
    templating.init_app(app)
    for blueprint in (health_bp, auth_bp, i18n_bp, tenant_bp, admin_bp, billing_webhook_bp,
                      telephony_webhook_bp):
        app.register_blueprint(blueprint)
    register_api(app)
    from web.portal import init_app as init_portal

    init_portal(app)
