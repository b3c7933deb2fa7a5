"""Imports every model module so the metadata (and Alembic's autogenerate) sees all tables."""
from tenants import audit, database_lock, outbox  # noqa: F401
from tenants.analytics import models as analytics_models  # noqa: F401
from tenants.billing import models as billing_models  # noqa: F401
from tenants.casework import agreements, disputes, evidence, legal, settlements  # noqa: F401
from tenants.casework import desk_models as casework_desk_models  # noqa: F401
from tenants.casework import money_models as casework_money_models  # noqa: F401
from tenants.compliance import models as compliance_models  # noqa: F401
from tenants.conduct import models as conduct_models  # noqa: F401
from tenants.conduct import subjects as conduct_subjects  # noqa: F401
from tenants.exchange import models as exchange_models  # noqa: F401
from tenants.messaging import models as messaging_models  # noqa: F401
from tenants.placements import models as placement_models  # noqa: F401
from tenants.portal import models as portal_models  # noqa: F401
from tenants.portfolios import models as portfolio_models  # noqa: F401
from tenants.telephony import models as telephony_models  # noqa: F401
from tenants.tenancy import models  # noqa: F401
from tenants.webhooks import models as webhook_models  # noqa: F401
