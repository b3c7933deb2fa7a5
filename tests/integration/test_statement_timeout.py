"""Every web transaction runs under the configured statement timeout (README "Configuration"), set in the statement
that enters its tenant — the API's bearer lookup included — so a runaway query cannot hold a web thread."""
from datetime import datetime

import pytest
from sqlalchemy import text

from tenants.context import tenant_scope
from tenants.db import db
from tenants.tenancy.roles import TenantKind
from tenants.tenancy.tokens import enter_bearer

pytestmark = pytest.mark.postgres


@pytest.fixture
def lender_token_committed(app):
    """A lender and its API token, committed as a real request finds them."""
    from tests.factories import Factory

    with app.app_context():
        factory = Factory(db.session)
        lender = factory.tenant(TenantKind.LENDER, slug=f"timeout-{datetime.now().timestamp():.0f}")
        _, secret = factory.token(lender, "lender_admin")
        lender_id = lender.id
        db.session.commit()
        db.session.remove()
    return lender_id, secret


def _timeout() -> str:
    return db.session.execute(text("SHOW statement_timeout")).scalar()


def test_a_bearer_request_and_a_tenant_transaction_carry_the_statement_timeout(app, lender_token_committed):
    lender_id, secret = lender_token_committed
    expected = f"{int(app.config['DATABASE_STATEMENT_TIMEOUT'])}s"
    with app.app_context():
        enter_bearer(secret)  # the token's first use is recorded and committed on its own
        db.session.rollback()
        enter_bearer(secret)
        assert _timeout() == expected
        db.session.rollback()
        with tenant_scope(lender_id):
            assert _timeout() == expected
        db.session.rollback()
        db.session.remove()
