"""Every role's pages fit the common desktop screens in English and Simplified Chinese: no sideways scrolling of the
page (a wide table scrolls inside its own `.table-responsive`), no label squeezed to one character per line, and
the top bar's switcher, user menu, language switch and logout on screen.

One browser for the module and one logged-in context per role; each page loads once per language and is measured
at every size by resizing the viewport. Screenshots of a few pages at 1366×768 land in tests/browser/screenshots/.
"""
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from tenants.capabilities import Capability, can
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.tenancy.roles import ROLES_BY_KIND, TenantKind
from tests.browser.conftest import CHROMIUM_FLAGS, _chromium_path

pytestmark = pytest.mark.browser

SIZES = ((1280, 800), (1366, 768), (1920, 1080))
LANGUAGES = ("en", "zh_CN")
SCREENSHOT_SIZE = (1366, 768)
SCREENSHOTS = Path(__file__).parent / "screenshots"
SCREENSHOT_ROLES = ("platform_admin", "lender_admin", "agency_admin", "agency_collector")
SCREENSHOT_PAGES = ("tenant", "account", "placement batch", "case", "decision")

# Measured in the page. Overflow: the page scrolls sideways; the offenders reported are the outermost elements
# sticking out past the viewport that no scrolling or clipping ancestor contains. Squeezed: a short label or header
# whose characters stand on two or more lines with fewer than two characters a line on average (工/作/台) — found
# from each character's own box, so padding, icons and line-height do not matter. Spilling: a form label whose
# text runs past its own box, over the next field's.
MEASURE = """() => {
  const doc = document.documentElement, width = doc.clientWidth;
  const describe = (el) => {
    let name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
    if (el.classList.length) name += '.' + [...el.classList].slice(0, 3).join('.');
    return name + ' "' + (el.innerText || '').trim().replace(/\\s+/g, ' ').slice(0, 50) + '"';
  };
  const contained = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') return true;
    }
    return false;
  };
  const overflow = [];
  if (doc.scrollWidth > width) {
    for (const el of document.body.querySelectorAll('*')) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.right <= width + 0.5 || contained(el)) continue;
      const parent = el.parentElement.getBoundingClientRect();
      if (parent.right <= width + 0.5 || el.parentElement === document.body) overflow.push(describe(el));
      if (overflow.length >= 6) break;
    }
  }
  const squeezed = [];
  const range = document.createRange();
  const selector = 'nav a, .nav-link, .navbar-text, label, button, .btn, th, .badge, .dropdown-item, ' +
                   'h1, h2, h3, h4, h5, h6, legend, dt';
  for (const el of document.querySelectorAll(selector)) {
    const text = (el.innerText || '').replace(/\\s+/g, '');
    if (text.length < 2 || text.length > 80) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    const centres = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.data.length; i++) {
        if (/\\s/.test(node.data[i])) continue;
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const glyph = range.getBoundingClientRect();
        if (glyph.height > 0) centres.push([glyph.top + glyph.height / 2, glyph.height]);
      }
    }
    if (centres.length < 2) continue;
    centres.sort((a, b) => a[0] - b[0]);
    let lines = 1;
    for (let i = 1; i < centres.length; i++) {
      if (centres[i][0] - centres[i - 1][0] > centres[i][1] / 2) lines += 1;
    }
    if (lines >= 2 && centres.length / lines < 2) squeezed.push(describe(el) + ' on ' + lines + ' lines');
  }
  // A form label whose text runs out of its own box (unbroken Chinese in a narrow column) writes over its neighbour.
  const spilling = [];
  for (const el of document.querySelectorAll('label')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || getComputedStyle(el).visibility === 'hidden' || !el.parentElement) continue;
    range.selectNodeContents(el);
    const text = range.getBoundingClientRect(), column = el.parentElement.getBoundingClientRect();
    if (text.width > 0 && (text.right > column.right + 1 || text.left < column.left - 1)) spilling.push(describe(el));
  }
  const offscreen = [];
  for (const id of ['#language-switch button', '#logout-button', '#user-menu', '#tenant-switcher', '#app-nav']) {
    const el = document.querySelector(id);
    if (el === null) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.left < 0 || box.right > width + 0.5) offscreen.push(id);
  }
  return {scrollWidth: doc.scrollWidth, width, overflow, squeezed, spilling, offscreen};
}"""


@dataclass
class Cast:
    """The committed data every role walks: one lender, the agency it placed an account with, a platform."""

    slugs: dict
    emails: dict
    paths: dict


@pytest.fixture(scope="module")
def cast(app):
    from tenants.casework.desk_models import CaseAssignment
    from tenants.placements.models import AgencyRelationship
    from tenants.tenancy.models import Tenant, User
    from tests.factories import Factory

    with app.app_context():
        factory = Factory(db.session)
        platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
        lender = factory.tenant("lender", name="金信消费金融有限公司 Jinxin Consumer Finance")
        ids = factory.placed_portfolio(lender)
        with tenant_scope(lender.id):
            agency_id = db.session.get(AgencyRelationship, ids["relationship_id"]).agency_tenant_id
        with platform_scope("test: the agency the world placed with"):
            agency = db.session.get(Tenant, agency_id)
            agency.name = "华夏资产管理催收服务有限公司 Huaxia Collect"
        emails = {}
        for tenant in (platform, lender, agency):
            for role in ROLES_BY_KIND[TenantKind(tenant.kind)]:
                if role != "agency_collector":
                    emails[role] = f"{role}-{tenant.slug}@example.test"
                    factory.user(tenant, role, email=emails[role])
        with tenant_scope(agency.id):  # the world's collector holds its case
            collector_id = db.session.scalar(select(CaseAssignment.collector_user_id).where(
                CaseAssignment.account_id == ids["account_id"]))
        with platform_scope("test: the collector's email"):
            emails["agency_collector"] = db.session.get(User, collector_id).email
        lender_t, agency_t = f"/t/{lender.slug}", f"/t/{agency.slug}"
        month = "2026-12"
        paths = {
            "platform": {
                "tenant": f"/admin/tenants/{lender.id}", "new tenant": "/admin/tenants/new",
                "billing plan": f"/admin/billing/{agency.id}", "decisions": "/admin/compliance/decisions",
                "decision": f"/admin/compliance/decisions/{ids['attempt_id']}", "complaints": "/admin/complaints",
                "complaint": f"/admin/complaints/{ids['complaint_id']}", "new complaint": "/admin/complaints/new",
                "audit chains": "/admin/compliance/audit-chains", "password": "/password",
            },
            "lender": {
                "account": (f"{lender_t}/accounts/{ids['account_id']}", None),
                "import": (f"{lender_t}/imports/{ids['import_id']}", None),
                "placement batch": (f"{lender_t}/placements/batches/{ids['batch_id']}", None),
                "column mapping": (f"{lender_t}/column-mapping", Capability.PORTFOLIO_IMPORT),
                "decisions": (f"{lender_t}/compliance/decisions", None),
                "decision": (f"{lender_t}/compliance/decisions/{ids['attempt_id']}", None),
                "complaints": (f"{lender_t}/compliance/complaints", None),
                "complaint": (f"{lender_t}/compliance/complaints/{ids['complaint_id']}", None),
                "new complaint": (f"{lender_t}/compliance/complaints/new", Capability.COMPLAINT_WRITE),
                "template": (f"{lender_t}/templates/{ids['template_id']}", None),
                "new template": (f"{lender_t}/templates/new", Capability.TEMPLATE_WRITE),
                "commission": (f"{lender_t}/billing/commission/{agency.id}/{month}", Capability.COMMISSION_READ),
                "member": (f"{lender_t}/members/{_membership(lender, emails['lender_analyst'])}", None),
                "password": ("/password", None),
            },
            "agency": {
                "case": (f"{agency_t}/cases/{ids['account_id']}", None),
                "template": (f"{agency_t}/templates/{ids['template_id']}", None),
                "commission": (f"{agency_t}/billing/commission/{lender.id}/{month}", Capability.COMMISSION_READ),
                "member": (f"{agency_t}/members/{_membership(agency, emails['agency_supervisor'])}", None),
                "password": ("/password", None),
            },
        }
        db.session.commit()
        cast = Cast(slugs={"lender": lender.slug, "agency": agency.slug}, emails=emails, paths=paths)
        db.session.remove()
    return cast


def _membership(tenant, email):
    from tenants.tenancy.models import Membership, User
    from tenants.tenancy.services import email_index

    with platform_scope("test: a member's page"):
        user_id = db.session.scalar(select(User.id).where(User.email_index == email_index(email)))
    with tenant_scope(tenant.id):
        return db.session.scalar(select(Membership.id).where(Membership.user_id == user_id))


@pytest.fixture(scope="module")
def server(app):
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    executable = _chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def _extra_paths(cast: Cast, role: str) -> dict:
    kind = role.split("_")[0]
    if kind == "platform":
        return cast.paths["platform"]
    return {name: path for name, (path, capability) in cast.paths[kind].items()
            if capability is None or can(role, capability)}


@pytest.mark.parametrize("role", [role for roles in ROLES_BY_KIND.values() for role in roles])
def test_every_page_of_every_role_fits_the_screen_in_both_languages(role, cast, server, chromium):
    from tests.factories import PASSWORD

    context = chromium.new_context(locale="en-US", viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    try:
        page.goto(f"{server}/login")
        page.fill("input[name=email]", cast.emails[role])
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url(lambda url: "/login" not in url)
        landing = page.url.removeprefix(server)
        nav = page.eval_on_selector_all("#app-nav a", "links => links.map(a => [a.innerText.trim(), a.pathname])")
        assert nav, f"{role}: no navigation on {landing}"
        pages = {label: path for label, path in nav} | _extra_paths(cast, role)

        problems = []
        for language in LANGUAGES:
            if language != "en":
                page.click(f"#language-switch button[value={language}]")
                page.wait_for_load_state()
                assert page.get_attribute("html", "lang") == "zh-CN"
            for name, path in pages.items():
                page.set_viewport_size({"width": 1920, "height": 1080})
                response = page.goto(f"{server}{path}")
                assert response.status == 200, f"{role} {path}: {response.status}"
                for width, height in SIZES:
                    page.set_viewport_size({"width": width, "height": height})
                    found = page.evaluate(MEASURE)
                    where = f"{role} {language} {width}×{height} {path}"
                    if found["overflow"] or found["scrollWidth"] > found["width"]:
                        problems.append(f"{where}: page {found['scrollWidth']}px wide in {found['width']}px, "
                                        f"sticking out: {found['overflow']}")
                    if found["squeezed"]:
                        problems.append(f"{where}: one character a line: {found['squeezed']}")
                    if found["spilling"]:
                        problems.append(f"{where}: label wider than its box: {found['spilling']}")
                    if found["offscreen"]:
                        problems.append(f"{where}: off screen: {found['offscreen']}")
                    if ((width, height) == SCREENSHOT_SIZE and role in SCREENSHOT_ROLES
                            and (path == landing or name in SCREENSHOT_PAGES)):
                        SCREENSHOTS.mkdir(exist_ok=True)
                        slug = name.replace(" ", "-")
                        page.screenshot(path=str(SCREENSHOTS / f"{role}-{slug}-{language}.png"), full_page=True,
                                        clip={"x": 0, "y": 0, "width": width, "height": 2 * height})
        assert not problems, "\n".join(problems)
    finally:
        context.close()


@pytest.mark.parametrize("width", [375, 800])
def test_on_a_narrow_screen_the_menu_folds_into_a_button_and_the_top_bar_still_fits(width, cast, server, chromium):
    from tests.factories import PASSWORD

    context = chromium.new_context(locale="zh-CN", viewport={"width": width, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{server}/login")
        page.fill("input[name=email]", cast.emails["agency_admin"])
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url(f"**/t/{cast.slugs['agency']}/")
        found = page.evaluate(MEASURE)
        assert found["scrollWidth"] <= found["width"], found["overflow"]
        assert not found["squeezed"]
        assert page.is_visible("#logout-button") and page.is_visible("#language-switch button")
        assert not page.is_visible("#app-nav")

        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"narrow-{width}.png"))
        page.click("button[data-bs-target='#app-sidebar']")
        page.wait_for_selector("#app-sidebar.show:not(.showing)")
        page.screenshot(path=str(SCREENSHOTS / f"narrow-{width}-menu.png"))
        page.click("#app-nav a[href$='/billing']")
        page.wait_for_url(f"**/t/{cast.slugs['agency']}/billing")
    finally:
        context.close()
