"""The rq worker: each job runs inside the app context and the tenant (or platform) context its meta names."""
import os
import uuid

from rq import Worker

from tenants import audit, outbox
from tenants.context import TenantContext, activate, deactivate
from tenants.db import db
from workers import periodic
from workers.connection import connection
from workers.queues import QUEUES


def job_context(meta: dict) -> TenantContext:
    if meta.get("platform_reason"):
        return TenantContext(tenant_id=None, platform_reason=f"job: {meta['platform_reason']}")
    tenant_id = meta.get("tenant_id")
    if not tenant_id:
        raise ValueError("job carries neither a tenant nor a platform reason")
    return TenantContext(tenant_id=uuid.UUID(tenant_id))


class RecoverlyWorker(Worker):
    flask_app = None

    def __init__(self, *args, flask_app=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.flask_app = flask_app
        self._parent_pid = os.getpid()

    def perform_job(self, job, queue):
        with self.flask_app.app_context():
            if os.getpid() != self._parent_pid:
                # A forked work horse must not share the parent's pooled sockets.
                db.engine.dispose(close=False)
            context_token = activate(job_context(job.meta))
            actor_token = audit.set_actor(audit.Actor(label=f"job:{job.func_name}"))
            try:
                succeeded = super().perform_job(job, queue)
                if succeeded and job.meta.get("outbox_task_id"):
                    outbox.mark_done(uuid.UUID(job.meta["outbox_task_id"]))
                    db.session.commit()
                return succeeded
            finally:
                audit.reset_actor(actor_token)
                deactivate(context_token)
                db.session.remove()


def run(flask_app, queue_names=QUEUES, *, with_scheduler: bool = True, burst: bool = False) -> None:
    worker = RecoverlyWorker(list(queue_names), connection=connection(), flask_app=flask_app)
    periodic.ensure_scheduled()
    worker.work(with_scheduler=with_scheduler, burst=burst)
