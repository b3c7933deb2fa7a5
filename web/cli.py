"""Operator commands: `flask seed-demo`, `flask audit verify`, `flask clock …`, `flask pii rotate`, `flask worker`,
`flask conduct coverage`."""
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from tenants import clock, demo_data
from tenants.audit import verify_chain
from tenants.conduct import coverage
from tenants.context import platform_scope
from tenants.db import db
from tenants.tenancy.models import Tenant


@click.command("seed-demo")
@with_appcontext
def seed_demo():
    """Create the demo tenants and a user for every role (idempotent) and print the logins."""
    credentials = demo_data.seed()
    click.echo("Demo logins (password for all: %s)" % demo_data.DEMO_PASSWORD)
    for c in credentials:
        click.echo(f"  {c.role:<18} {c.email:<30} /t/{c.tenant}/" if c.role != "platform_admin"
                   else f"  {c.role:<18} {c.email:<30} /admin/")


@click.group("audit", cls=AppGroup)
def audit_group():
    """The hash-chained audit trail."""


@audit_group.command("verify")
@click.option("--tenant", "slug", help="Check one tenant (by slug); default: all.")
def audit_verify(slug):
    """Walk every chain; report the first broken link. Exit status 1 if any chain is broken."""
    query = select(Tenant).order_by(Tenant.slug)
    if slug:
        query = query.where(Tenant.slug == slug)
    with platform_scope("flask audit verify: the tenants to check"):
        tenants = db.session.scalars(query).all()
    if slug and not tenants:
        raise click.ClickException(f"no tenant {slug!r}")
    broken = 0
    with platform_scope("flask audit verify"):
        for tenant in tenants:
            report = verify_chain(tenant.id)
            if report.ok:
                click.echo(f"ok      {tenant.slug}: {report.checked} events")
            else:
                broken += 1
                click.echo(f"BROKEN  {tenant.slug}: first broken link at event {report.first_broken_seq} "
                           f"({report.reason}); {report.checked} events verified before it")
    sys.exit(1 if broken else 0)


@click.group("clock", cls=AppGroup)
def clock_group():
    """The test clock (needs RECOVERLY_TEST_CLOCK=on; refused in production)."""


def _test_clock() -> clock.StoredTestClock:
    current = clock.current_clock()
    if not isinstance(current, clock.StoredTestClock):
        raise click.ClickException("the test clock is off: set RECOVERLY_TEST_CLOCK=on (never in production)")
    return current


@clock_group.command("show")
def clock_show():
    current = clock.current_clock()
    pinned = isinstance(current, clock.StoredTestClock) and current.is_pinned()
    click.echo(f"{clock.now().isoformat()} ({'pinned test clock' if pinned else 'real time'})")


@clock_group.command("set")
@click.argument("instant")
def clock_set(instant):
    """Pin the clock, e.g. 2026-12-01T09:00:00+08:00."""
    try:
        at = clock.parse_instant(instant)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    _test_clock().set(at)
    click.echo(f"clock pinned at {at.isoformat()}")


@clock_group.command("advance")
@click.argument("duration")
def clock_advance(duration):
    """Move the pinned clock, e.g. 90m, 2h, 1d."""
    try:
        delta = clock.parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(f"clock now {_test_clock().advance(delta).isoformat()}")


@clock_group.command("reset")
def clock_reset():
    """Back to real time."""
    _test_clock().reset()
    click.echo("clock follows real time")


@click.group("pii", cls=AppGroup)
def pii_group():
    """Encrypted personal data."""


@pii_group.command("rotate")
def pii_rotate():
    """Re-encrypt every stored value under the first key of PII_KEYS (then the old keys can be removed)."""
    from tenants.pii_rotation import rotate_all

    for column, count in rotate_all().items():
        click.echo(f"{column}: {count} values re-encrypted")


@click.group("conduct", cls=AppGroup)
def conduct_group():
    """The conduct rulebooks."""


@conduct_group.command("coverage")
@click.option("--markdown", is_flag=True, help="Print a Markdown table instead of plain text.")
@click.option("--readme", is_flag=True, help="Rewrite the table in README.md's 'Conduct rules coverage' section.")
def conduct_coverage(markdown, readme):
    """Every rule of every preset rulebook: citation, confidence, enforced or data only, and the tests naming it."""
    rows = coverage.coverage()
    if readme:
        changed = coverage.update_readme(rows=rows)
        click.echo("README.md updated" if changed else "README.md already current")
        return
    click.echo(coverage.as_markdown(rows) if markdown else coverage.as_text(rows))


@click.command("worker")
@with_appcontext
@click.option("--with-scheduler/--without-scheduler", default=True, help="Run rq's scheduler (retries, periodic).")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.argument("queues", nargs=-1)
def worker(with_scheduler, burst, queues):
    """Run an rq worker on the named queues (default: default, imports, billing)."""
    from workers.queues import QUEUES
    from workers.worker import run

    run(current_app._get_current_object(), queues or QUEUES, with_scheduler=with_scheduler, burst=burst)


def init_app(app: Flask) -> None:
    for command in (seed_demo, audit_group, clock_group, pii_group, conduct_group, worker):
        app.cli.add_command(command)
