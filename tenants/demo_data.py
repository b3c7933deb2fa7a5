"""Demo tenants, one user for every role, and portfolios placed with agencies. Idempotent: running it again
changes nothing.

Jinxin Lending's portfolio "2026-11 逾期资产包" (300 accounts, plus 3 broken rows so the import has an error
file) goes through the real import path as a GBK file; Huaxia and Eastwind are on its panel and share 200 of
the accounts 70/30 — Huaxia has accepted its offer, Eastwind's is still pending. Yinhe Consumer Finance lent to
12 of the same people and placed them with Eastwind (accepted): yesterday's contact history shows both agencies
calling the same people under one daily count, with allowed and refused attempts. Harbor Credit has 20 US
accounts placed with (and accepted by) Atlas Recovery.

The account generators (``cn_account_rows``, ``us_account_rows``) are also used by ``bench/import_bench.py``.
"""
import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tenants import audit, clock
from tenants.conduct import service as conduct
from tenants.conduct.models import ContactAttempt
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.identifiers import cn_resident_id_check_char
from tenants.placements import panel, services
from tenants.placements.models import AgencyRelationship, Placement, PlacementBatch, PlacementStatus
from tenants.portal import demo as portal_demo
from tenants.portfolios import imports
from tenants.portfolios.models import Account, Portfolio
from tenants.tenancy.models import Membership, Tenant, User
from tenants.tenancy.passwords import hash_password
from tenants.tenancy.roles import TenantKind
from tenants.tenancy.services import email_index
from tenants.webhooks import demo as webhook_demo

DEMO_PASSWORD = "demo-password-1"

TENANTS = [
    # kind, slug, name, zone, locale, currency
    (TenantKind.PLATFORM, "platform", "Recoverly Platform", "UTC", "en", "CNY"),
    (TenantKind.LENDER, "jinxin-lending", "金信网贷 Jinxin Lending", "Asia/Shanghai", "zh_CN", "CNY"),
    (TenantKind.LENDER, "harbor-credit", "Harbor Credit (US)", "America/New_York", "en", "USD"),
    (TenantKind.LENDER, "yinhe-finance", "银河消费金融 Yinhe Consumer Finance", "Asia/Shanghai", "zh_CN", "CNY"),
    (TenantKind.AGENCY, "huaxia-collect", "华夏催收 Huaxia Collections", "Asia/Shanghai", "zh_CN", "CNY"),
    (TenantKind.AGENCY, "eastwind-recovery", "东风资产 Eastwind Recovery", "Asia/Shanghai", "zh_CN", "CNY"),
    (TenantKind.AGENCY, "atlas-recovery", "Atlas Recovery (US)", "America/Chicago", "en", "USD"),
]

USERS = [
    # email, name, tenant slug, role
    ("admin@recoverly.test", "Platform Admin", "platform", "platform_admin"),
    ("lender.admin@jinxin.test", "王丽 Wang Li", "jinxin-lending", "lender_admin"),
    ("lender.manager@jinxin.test", "陈刚 Chen Gang", "jinxin-lending", "lender_manager"),
    ("lender.analyst@jinxin.test", "刘洋 Liu Yang", "jinxin-lending", "lender_analyst"),
    ("lender.admin@harbor.test", "Dana Brooks", "harbor-credit", "lender_admin"),
    ("lender.admin@yinhe.test", "黄敏 Huang Min", "yinhe-finance", "lender_admin"),
    ("agency.admin@huaxia.test", "张伟 Zhang Wei", "huaxia-collect", "agency_admin"),
    ("supervisor@huaxia.test", "李娜 Li Na", "huaxia-collect", "agency_supervisor"),
    ("collector@huaxia.test", "赵强 Zhao Qiang", "huaxia-collect", "agency_collector"),
    ("agency.admin@eastwind.test", "孙敏 Sun Min", "eastwind-recovery", "agency_admin"),
    ("collector@eastwind.test", "周杰 Zhou Jie", "eastwind-recovery", "agency_collector"),
    ("agency.admin@atlas.test", "Sam Ortiz", "atlas-recovery", "agency_admin"),
    ("collector@atlas.test", "Riley Chen", "atlas-recovery", "agency_collector"),
    # One person in two organisations, to show the tenant switcher.
    ("collector@huaxia.test", "赵强 Zhao Qiang", "eastwind-recovery", "agency_collector"),
]


@dataclass(frozen=True)
class Credential:
    email: str
    password: str
    tenant: str
    role: str


def seed() -> list[Credential]:
    tenants = {slug: _tenant(kind, slug, name, zone, locale, currency)
               for kind, slug, name, zone, locale, currency in TENANTS}
    credentials, users = [], {}
    for email, name, slug, role in USERS:
        user = _user(email, name, tenants[slug].locale)
        _membership(tenants[slug], user, role)
        users.setdefault((slug, role), user.id)
        credentials.append(Credential(email, DEMO_PASSWORD, slug, role))
    billing_plans(tenants)
    webhook_demo.register_endpoint(tenants["jinxin-lending"], users[("jinxin-lending", "lender_admin")])
    for demo in PORTFOLIOS:
        _portfolio(demo, tenants, users[(demo.lender, "lender_admin")])
    for slug, rows in DEMO_TEMPLATES.items():
        _templates(tenants[slug], rows, users[(slug, "lender_admin")])
    db.session.commit()
    contact_history(tenants["huaxia-collect"], tenants["eastwind-recovery"],
                    collectors=(users[("huaxia-collect", "agency_collector")],
                                users[("eastwind-recovery", "agency_collector")]))
    casework(tenants["huaxia-collect"], tenants["jinxin-lending"],
             collector_id=users[("huaxia-collect", "agency_collector")],
             supervisor_id=users[("huaxia-collect", "agency_supervisor")],
             lender_manager_id=users[("jinxin-lending", "lender_manager")])
    champion_challenger_history(tenants["jinxin-lending"], tenants["huaxia-collect"], tenants["eastwind-recovery"],
                                users[("jinxin-lending", "lender_admin")])
    portal_demo.seed(tenants["jinxin-lending"], tenants["huaxia-collect"],
                     lender_admin_id=users[("jinxin-lending", "lender_admin")],
                     collector_id=users[("huaxia-collect", "agency_collector")])
    return credentials


def _tenant(kind, slug, name, zone, locale, currency) -> Tenant:
    with platform_scope("seed-demo: a tenant"):
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            tenant = Tenant(kind=kind, slug=slug, name=name, time_zone=zone, locale=locale, currency=currency)
            db.session.add(tenant)
            db.session.flush()
            created = True
        else:
            created = False
    if created:
        with tenant_scope(tenant.id):
            audit.record("tenant.created", object_type="tenant", object_id=tenant.id,
                         after={"slug": slug, "kind": kind, "source": "seed-demo"})
    return tenant


def _user(email: str, name: str, locale: str) -> User:
    with platform_scope("seed-demo: a person"):
        user = db.session.scalar(select(User).where(User.email_index == email_index(email)))
        if user is None:
            user = User(email_index=email_index(email), email=email, name=name,
                        password_hash=hash_password(DEMO_PASSWORD), locale=locale)
            db.session.add(user)
            db.session.flush()
    return user


def _membership(tenant: Tenant, user: User, role: str) -> None:
    with platform_scope("seed-demo"):
        exists = db.session.scalar(
            select(Membership.id).where(Membership.tenant_id == tenant.id, Membership.user_id == user.id)
        )
    if exists is None:
        with tenant_scope(tenant.id):
            membership = Membership(tenant_id=tenant.id, user_id=user.id, role=role)
            db.session.add(membership)
            db.session.flush()
            audit.record("membership.created", object_type="membership", object_id=membership.id,
                         after={"role": role, "source": "seed-demo"})


# ---- demo portfolios ---------------------------------------------------------------------------------------

AS_OF = date(2026, 11, 30)  # the day the demo files were "exported"; their days past due count to it
CONTRACT_START = date(2026, 1, 1)
PLACEMENT_SEED = 2026


@dataclass(frozen=True)
class DemoPortfolio:
    lender: str
    name: str
    filename: str
    encoding: str
    header: tuple[str, ...]
    rows: Callable[[], list[list[str]]]  # the file's rows, each a list of cell texts in header order
    panel: tuple[tuple[str, int, int, tuple[str, ...]], ...]  # agency slug, commission bps, period days, channels
    weights: tuple[tuple[str, int], ...]  # agency slug, share of the placed accounts
    place: int | None  # how many accounts to place (the first by reference); None: all
    accepted_by: tuple[str, ...]  # agencies that accept their offer; the others leave it pending
    last_month_trial: int = 0  # accounts placed with every agency last month and returned (billed last period)


def _cn_demo_rows() -> list[list[str]]:
    return list(cn_account_rows(random.Random(2026), 303, broken=3))


def _yinhe_demo_rows() -> list[list[str]]:
    """The first 12 people of Jinxin's file, with loans of their own at Yinhe."""
    rows = []
    for i, row in enumerate(_cn_demo_rows()[:12]):
        row = list(row)
        row[0], row[6] = f"YH{AS_OF:%Y%m}{i + 1:06d}", "银河分期"
        row[14:17] = ["", "", ""]
        rows.append(row)
    return rows


def _us_demo_rows() -> list[list[str]]:
    return list(us_account_rows(random.Random(2026), 20))


def _portfolio(demo: DemoPortfolio, tenants: dict[str, Tenant], admin_id) -> None:
    """Import, panel, placement, answers: each step is skipped when its result is already there."""
    lender = tenants[demo.lender]
    agencies = {slug: tenants[slug] for slug, *_ in demo.panel}
    with tenant_scope(lender.id):
        portfolio = db.session.scalar(select(Portfolio).where(Portfolio.name == demo.name))
        if portfolio is None:
            portfolio = imports.get_or_create_portfolio(demo.name)
            data = csv_bytes(demo.header, demo.rows(), demo.encoding)
            job = imports.create_import(portfolio=portfolio, filename=demo.filename, stream=io.BytesIO(data),
                                        mapping=None, uploaded_by=admin_id)
            imports.run_import(job.id)  # what the imports worker would do; it commits batch by batch
        on_panel = set(db.session.scalars(select(AgencyRelationship.agency_tenant_id)
                                          .where(AgencyRelationship.tenant_id == lender.id)))
        for slug, commission_bps, period_days, channels in demo.panel:
            if agencies[slug].id not in on_panel:
                panel.add_agency(agency_slug=slug, contract_start=CONTRACT_START, contract_end=None,
                                 commission_bps=commission_bps, period_days=period_days, channels=list(channels))
        if db.session.scalar(select(PlacementBatch.id).where(PlacementBatch.tenant_id == lender.id).limit(1)):
            return
        if demo.last_month_trial:
            _last_month_trial(lender, portfolio, [agencies[slug] for slug, _ in demo.weights], admin_id)
        batch = services.place(lender=lender, selection=services.Selection(portfolio_id=portfolio.id,
                                                                           limit=demo.place),
                               weights={agencies[slug].id: weight for slug, weight in demo.weights}, terms={},
                               created_by=admin_id, seed=PLACEMENT_SEED, debtors_notified=True)
        batch_id = batch.id
    for slug in demo.accepted_by:
        with tenant_scope(agencies[slug].id):
            services.respond(batch_id, accept=True)


def _last_month_trial(lender: Tenant, portfolio: Portfolio, agencies: list[Tenant], admin_id) -> None:
    """A trial batch placed and accepted in the middle of last month and returned ten days later, so the agencies
    have a closed billing period for the demo to invoice (the same accounts are placed again this month: a new
    period, a new case)."""
    first_day = clock.now().astimezone(SHANGHAI).date().replace(day=1)
    mid_last_month = datetime.combine(first_day - timedelta(days=16), time(10, 0), tzinfo=SHANGHAI)
    demo = next(d for d in PORTFOLIOS if d.lender == lender.slug)
    previous = clock.current_clock()
    try:
        clock.use(clock.FrozenClock(mid_last_month))
        batch = services.place(lender=lender, selection=services.Selection(portfolio_id=portfolio.id,
                                                                           limit=demo.last_month_trial),
                               weights={agency.id: 1 for agency in agencies}, terms={}, created_by=admin_id,
                               seed=PLACEMENT_SEED, debtors_notified=True)
        batch_id = batch.id
        for agency in agencies:
            with tenant_scope(agency.id):
                services.respond(batch_id, accept=True)
        clock.use(clock.FrozenClock(mid_last_month + timedelta(days=10)))
        with tenant_scope(lender.id):
            trial = db.session.scalars(select(Placement.id).where(Placement.batch_id == batch_id)).all()
            services.recall(list(trial), reason="trial batch returned", force=False, role="lender_admin")
    finally:
        clock.use(previous)


# ---- billing ---------------------------------------------------------------------------------------------------

# Agencies' plans: 华夏 pays list price, 东风 has 10 free cases a month, Atlas pays in dollars.
DEMO_PLANS = {
    "huaxia-collect": {"unit_price": "5.00"},
    "eastwind-recovery": {"unit_price": "4.00", "free_cases": 10},
    "atlas-recovery": {"unit_price": "1.50"},
}
# This agency pays by a direct debit that bounces: its invoice fails and it is flagged delinquent.
DEMO_DECLINING_AGENCY = "eastwind-recovery"


def billing_plans(tenants: dict[str, Tenant]) -> None:
    """Set the demo agencies' plans once (the platform admin's job)."""
    from tenants.billing.models import BillingPlan
    from tenants.billing.plans import update_plan

    with platform_scope("seed-demo: billing plans"):
        for slug, terms in DEMO_PLANS.items():
            if db.session.scalar(select(BillingPlan.id).where(BillingPlan.tenant_id == tenants[slug].id)) is None:
                update_plan(tenants[slug], terms)


def csv_bytes(header, rows, encoding: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


# ---- generated accounts: a Chinese online lender's overdue export -------------------------------------------

CN_HEADER = ("合同编号", "客户姓名", "身份证号", "手机号码", "所在省份", "家庭住址", "产品名称", "借款金额", "剩余本金",
             "逾期利息", "逾期罚息", "放款日期", "应还款日期", "逾期天数", "紧急联系人", "紧急联系人电话",
             "与借款人关系")

_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
             "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
_SURNAME_WEIGHTS = tuple(1 / (1 + 0.12 * rank) for rank in range(len(_SURNAMES)))
_MALE = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林阳建国志海峰亮成文东晨"
_FEMALE = "芳娜敏静丽艳娟霞燕玲婷雪慧颖琳倩萍红梅莉晶佳欣怡悦璐丹蕾薇月秀英兰桂琴云"
# Real administrative division codes (GB/T 2260): province, city/district, code, relative weight.
_CN_REGIONS = (
    ("广东省", "广州市天河区", "440106", 6), ("广东省", "深圳市福田区", "440304", 6), ("广东省", "东莞市", "441900", 4),
    ("北京市", "朝阳区", "110105", 4), ("北京市", "东城区", "110101", 2), ("上海市", "浦东新区", "310115", 4),
    ("上海市", "徐汇区", "310104", 2), ("天津市", "河西区", "120103", 2), ("重庆市", "渝中区", "500103", 3),
    ("浙江省", "杭州市西湖区", "330106", 4), ("浙江省", "温州市鹿城区", "330302", 2),
    ("江苏省", "南京市玄武区", "320102", 3), ("江苏省", "苏州市姑苏区", "320508", 3),
    ("四川省", "成都市武侯区", "510107", 4), ("湖北省", "武汉市武昌区", "420106", 3),
    ("湖南省", "长沙市岳麓区", "430104", 3), ("山东省", "青岛市市南区", "370202", 2),
    ("山东省", "济南市历下区", "370102", 3), ("福建省", "厦门市思明区", "350203", 2),
    ("陕西省", "西安市雁塔区", "610113", 3), ("河南省", "郑州市金水区", "410105", 4),
    ("河北省", "石家庄市长安区", "130102", 3), ("安徽省", "合肥市蜀山区", "340104", 3),
    ("江西省", "南昌市东湖区", "360102", 2), ("广西壮族自治区", "南宁市青秀区", "450103", 2),
    ("云南省", "昆明市五华区", "530102", 2), ("贵州省", "贵阳市南明区", "520102", 2),
    ("辽宁省", "沈阳市和平区", "210102", 2), ("吉林省", "长春市南关区", "220102", 1),
    ("黑龙江省", "哈尔滨市南岗区", "230103", 2), ("山西省", "太原市小店区", "140105", 1),
    ("甘肃省", "兰州市城关区", "620102", 1), ("海南省", "海口市龙华区", "460106", 1),
    ("内蒙古自治区", "呼和浩特市新城区", "150102", 1),
)
_CN_REGION_WEIGHTS = tuple(r[3] for r in _CN_REGIONS)
_ROADS = ("人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "胜利路", "文化路", "青年路", "光明路", "长江路",
          "滨江大道", "学府路", "朝阳路")
_CN_MOBILE_PREFIXES = tuple(str(p) for p in (*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159,
                                              *range(180, 190), 190, 191, 192, 193, 195, 196, 197, 198, 199))
_CN_PRODUCTS = (("极速贷", 5), ("随借随还", 4), ("消费分期", 3), ("工薪贷", 2), ("信用钱包", 2), ("应急周转金", 1))
_LOAN_SIZES = (500, 1000, 2000, 3000, 5000, 8000, 10000, 15000, 20000, 30000, 50000)
_LOAN_SIZE_WEIGHTS = (3, 8, 10, 10, 12, 8, 9, 6, 4, 2, 1)
# Days past due by collection stage: M1 … M6+ and beyond, weighted as a typical outsourced book.
_DPD_BUCKETS = ((1, 30, 10), (31, 60, 18), (61, 90, 20), (91, 180, 25), (181, 360, 17), (361, 720, 10))
_RELATIONSHIPS = ("配偶", "父亲", "母亲", "兄弟", "姐妹", "朋友", "同事")


def _cn_given(rng: random.Random, male: bool) -> str:
    pool = _MALE if male else _FEMALE
    return rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.6 else "")


def _cn_surname(rng: random.Random) -> str:
    return rng.choices(_SURNAMES, _SURNAME_WEIGHTS)[0]


def _cn_mobile(rng: random.Random) -> str:
    return rng.choice(_CN_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _cn_resident_id(rng: random.Random, region_code: str, male: bool) -> str:
    born = date(1966, 1, 1) + timedelta(days=rng.randrange(13_700))  # aged about 22 to 60
    sequence = rng.randrange(50) * 20 + rng.randrange(5) * 2 + (1 if male else 0)  # odd for men (GB 11643)
    body = f"{region_code}{born:%Y%m%d}{sequence:03d}"
    return body + cn_resident_id_check_char(body)


def _money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def cn_account_rows(rng: random.Random, count: int, *, broken: int = 0, ref_prefix: str = "JX"):
    """``count`` rows in ``CN_HEADER`` order; ``broken`` of them, spread evenly, carry one mistake each, in
    turn: a resident ID with a wrong check character, an amount with three decimals, an impossible due date."""
    step = count // broken if broken else 0
    for i in range(count):
        surname, male = _cn_surname(rng), rng.random() < 0.58
        name = surname + _cn_given(rng, male)
        province, city, code, _ = rng.choices(_CN_REGIONS, _CN_REGION_WEIGHTS)[0]
        resident_id = _cn_resident_id(rng, code, male)
        phones = _cn_mobile(rng) + (";" + _cn_mobile(rng) if rng.random() < 0.08 else "")
        address = (f"{province}{city}{rng.choice(_ROADS)}{rng.randrange(1, 400)}号{rng.randrange(1, 30)}栋"
                   f"{rng.randrange(1, 6)}单元{rng.randrange(1, 33)}{rng.randrange(1, 5):02d}室")
        product = rng.choices([p for p, _ in _CN_PRODUCTS], [w for _, w in _CN_PRODUCTS])[0]
        lent = rng.choices(_LOAN_SIZES, _LOAN_SIZE_WEIGHTS)[0] * 100
        principal = int(lent * rng.uniform(0.25, 1.0))
        low, high, _ = rng.choices(_DPD_BUCKETS, [b[2] for b in _DPD_BUCKETS])[0]
        dpd = rng.randint(low, high)
        interest = int(principal * rng.uniform(0.01, 0.12))
        penalty = int(principal * min(dpd, 365) * 0.0005 * rng.uniform(0.6, 1.0))
        due = AS_OF - timedelta(days=dpd)
        loan_date = due - timedelta(days=rng.choice((30, 90, 180, 360)) + rng.randrange(0, 28))
        contact = ["", "", ""]
        if rng.random() < 0.35:
            relationship = rng.choice(_RELATIONSHIPS)
            same_family = relationship in ("父亲", "兄弟", "姐妹")
            contact_male = relationship in ("父亲", "兄弟") or (relationship == "配偶" and not male) or (
                relationship in ("朋友", "同事") and rng.random() < 0.5)
            contact_name = (surname if same_family else _cn_surname(rng)) + _cn_given(rng, contact_male)
            contact = [contact_name, _cn_mobile(rng), relationship]
        row = [f"{ref_prefix}{AS_OF:%Y%m}{i + 1:06d}", name, resident_id, phones, province, address, product,
               _money(lent), _money(principal), _money(interest), _money(penalty), loan_date.isoformat(),
               due.isoformat(), str(dpd), *contact]
        if step and i % step == step // 2 and i // step < broken:
            kind = (i // step) % 3
            if kind == 0:  # a typo in the resident ID: the check character no longer matches
                row[2] = resident_id[:-1] + rng.choice([c for c in "0123456789X" if c != resident_id[-1]])
            elif kind == 1:  # an amount with a third decimal, as a spreadsheet formula leaves it
                row[8] = row[8] + str(rng.randrange(1, 10))
            else:  # a day that does not exist
                row[12] = f"{due.year}-02-30"
        yield row


# ---- generated accounts: a US consumer lender's charge-offs ---------------------------------------------

US_HEADER = ("account_number", "name", "phone", "email", "address", "state", "product", "original_amount",
             "principal", "interest", "fees", "loan_date", "due_date", "days_past_due")

_US_FIRST = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
             "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Karen", "Carlos", "Maria",
             "Daniel", "Ashley", "Kevin", "Emily", "Jamal", "Aaliyah", "Minh", "Priya")
_US_LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
            "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Nguyen", "Patel",
            "Lee", "Walker", "Hall", "Young")
_US_PLACES = (  # state, city, ZIP prefix, area codes
    ("NY", "Brooklyn", "112", ("718", "347", "917")), ("NY", "New York", "100", ("212", "646")),
    ("NJ", "Newark", "071", ("973", "862")), ("PA", "Philadelphia", "191", ("215", "267")),
    ("MA", "Boston", "021", ("617", "857")), ("FL", "Miami", "331", ("305", "786")),
    ("GA", "Atlanta", "303", ("404", "678")), ("OH", "Columbus", "432", ("614",)),
    ("IL", "Chicago", "606", ("312", "773")), ("TX", "Houston", "770", ("713", "832")),
)
_US_STREETS = ("Oak St", "Maple Ave", "Washington Blvd", "Park Ave", "Cedar Ln", "Elm St", "Lincoln Ave", "Main St")
_US_EXCHANGES = tuple(n for n in range(201, 1000) if n % 100 != 11 and n != 555)  # no N11 service codes, no 555
_US_PRODUCTS = ("Personal loan", "Credit card", "Auto loan deficiency", "Installment loan")


def us_account_rows(rng: random.Random, count: int, *, ref_prefix: str = "HC"):
    """``count`` valid rows in ``US_HEADER`` order."""
    for i in range(count):
        first, last = rng.choice(_US_FIRST), rng.choice(_US_LAST)
        state, city, zip_prefix, area_codes = rng.choice(_US_PLACES)
        exchange = rng.choice(_US_EXCHANGES)
        phone = f"({rng.choice(area_codes)}) {exchange}-{rng.randrange(10_000):04d}"
        lent = rng.choice((1500, 2500, 4000, 6000, 9000, 12000, 18000)) * 100
        principal = int(lent * rng.uniform(0.3, 0.95))
        dpd = rng.randint(95, 400)
        due = AS_OF - timedelta(days=dpd)
        yield [f"{ref_prefix}-{AS_OF:%y%m}-{i + 1:04d}", f"{first} {last}", phone,
               f"{first}.{last}{rng.randrange(10, 99)}@example.com".lower(),
               f"{rng.randrange(10, 9999)} {rng.choice(_US_STREETS)}, {city}, "
               f"{state} {zip_prefix}{rng.randrange(100):02d}",
               state, rng.choice(_US_PRODUCTS), _money(lent), _money(principal),
               _money(int(principal * rng.uniform(0.05, 0.25))), _money(rng.choice((0, 2500, 3500, 3900))),
               (due - timedelta(days=rng.choice((365, 730, 1095)))).isoformat(), due.isoformat(), str(dpd)]


PORTFOLIOS = (
    DemoPortfolio(lender="jinxin-lending", name="2026-11 逾期资产包", filename="金信网贷-2026-11-逾期资产包.csv",
                  encoding="gbk", header=CN_HEADER, rows=_cn_demo_rows,
                  panel=(("huaxia-collect", 1500, 90, ("call", "sms", "letter")),
                         ("eastwind-recovery", 1800, 90, ("call", "sms", "letter"))),
                  weights=(("huaxia-collect", 70), ("eastwind-recovery", 30)), place=200,
                  accepted_by=("huaxia-collect",), last_month_trial=30),
    DemoPortfolio(lender="yinhe-finance", name="2026-11 委外批次", filename="银河-2026-11-委外.csv",
                  encoding="gbk", header=CN_HEADER, rows=_yinhe_demo_rows,
                  panel=(("eastwind-recovery", 1600, 90, ("call", "sms", "letter")),),
                  weights=(("eastwind-recovery", 1),), place=None, accepted_by=("eastwind-recovery",)),
    DemoPortfolio(lender="harbor-credit", name="2026-11 Charge-offs", filename="harbor-chargeoffs-2026-11.csv",
                  encoding="utf-8", header=US_HEADER, rows=_us_demo_rows,
                  panel=(("atlas-recovery", 2500, 120, ("call", "letter", "email")),),
                  weights=(("atlas-recovery", 1),), place=None, accepted_by=("atlas-recovery",)),
)


# ---- approved message templates, so demo collectors have something to send --------------------------------

DEMO_TEMPLATES = {
    "jinxin-lending": [
        dict(name="还款提醒", channel="sms", locale="zh-CN",
             body="【金信网贷】{{ debtor_name }}您好，您的借款{{ reference }}尚有{{ amount_due }}元待还，"
                  "请于{{ due_date }}前通过官方渠道还款。如有疑问请致电客服。回复TD退订"),
        dict(name="Repayment reminder", channel="sms", locale="en",
             body="Jinxin Lending: {{ debtor_name }}, {{ amount_due }} {{ currency }} is due on loan {{ reference }}. "
                  "Please repay through our official channels. Reply TD to unsubscribe 回复TD退订"),
    ],
    "harbor-credit": [
        dict(name="Payment reminder", channel="email", locale="en", subject="About your account {{ reference }}",
             body="Dear {{ debtor_name }},\n\nThis is a communication from a debt collector. This is an attempt to "
                  "collect a debt and any information obtained will be used for that purpose. Your balance is "
                  "{{ amount_due }} {{ currency }}.\n\nTo stop emails from us, reply STOP or use the unsubscribe "
                  "link.\n\n{{ agency_name }}"),
    ],
}


def _templates(lender: Tenant, rows: list[dict], admin_id) -> None:
    from tenants.messaging import templates
    from tenants.messaging.models import MessageTemplate

    with tenant_scope(lender.id):
        existing = set(db.session.scalars(select(MessageTemplate.name)))
        for row in rows:
            if row["name"] in existing:
                continue
            template = templates.create_template(row, created_by=admin_id)
            templates.submit(template.id)
            templates.approve(template.id, approved_by=admin_id)


# ---- contact history: two agencies, the same people, one daily count ---------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")


def contact_history(huaxia: Tenant, eastwind: Tenant, *, collectors) -> None:
    """Yesterday (Shanghai time), on three people both agencies collect from: calls counted across agencies up to
    the daily cap of three connected calls, a call at 22:30 refused, a dispute on one debt that stops only that
    debt. Decided by the real conduct engine at those instants. Skipped when Huaxia has any contact on record."""
    with tenant_scope(huaxia.id):
        if db.session.scalar(select(ContactAttempt.id).limit(1)) is not None:
            return
    shared = _shared_people(huaxia, eastwind)
    if len(shared) < 3:
        return
    day = clock.now().astimezone(SHANGHAI).date() - timedelta(days=1)
    (p1_hx, p1_ew), (p2_hx, _), (p3_hx, p3_ew) = shared[:3]
    hx, ew = (huaxia, collectors[0]), (eastwind, collectors[1])
    script = [
        ("10:05", hx, p1_hx, "call", "right_party_contact"),
        ("11:30", ew, p1_ew, "call", "no_answer"),
        ("14:10", ew, p1_ew, "call", "right_party_contact"),
        ("16:00", hx, p1_hx, "call", "refused"),
        ("17:20", ew, p1_ew, "call", None),  # the person's 4th connected call of the day: refused
        ("09:15", hx, p2_hx, "sms", "delivered"),
        ("22:30", hx, p2_hx, "call", None),  # after hours: refused
        ("10:00", ew, p3_ew, "call", "dispute_raised"),  # opens a dispute hold on Yinhe's debt only
        ("15:00", hx, p3_hx, "call", "no_answer"),  # Jinxin's debt is not disputed: allowed
        ("15:30", ew, p3_ew, "call", None),  # the disputed debt: refused until resolved
    ]
    previous = clock.current_clock()
    try:
        for at, (agency, collector_id), account_id, channel, outcome in sorted(script, key=lambda s: s[0]):
            hour, minute = map(int, at.split(":"))
            clock.use(clock.FrozenClock(datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)))
            with tenant_scope(agency.id):
                try:
                    record, _ = conduct.attempt(account_id, conduct.AttemptRequest(channel=channel),
                                                collector_user_id=collector_id)
                except conduct.ConductBlocked:
                    db.session.rollback()
                    continue
                if outcome:
                    clock.use(clock.FrozenClock(clock.now() + timedelta(minutes=3)))
                    conduct.record_outcome(record.id, outcome)
                    db.session.commit()
    finally:
        clock.use(previous)


def _shared_people(huaxia: Tenant, eastwind: Tenant) -> list[tuple]:
    """(Huaxia's account, Eastwind's account) pairs of the same person, by the platform's person key."""
    held = {}
    for agency in (huaxia, eastwind):
        with tenant_scope(agency.id):
            rows = db.session.execute(select(Account.subject_key, Account.id).join(
                Placement, Placement.account_id == Account.id).where(
                Placement.agency_tenant_id == agency.id, Placement.status == PlacementStatus.ACTIVE)
                .order_by(Account.external_ref)).all()
        held[agency.id] = {key: account_id for key, account_id in rows if key}
    return [(account_id, held[eastwind.id][key]) for key, account_id in held[huaxia.id].items()
            if key in held[eastwind.id]]


# ---- casework: Huaxia's collector has a desk full of promises, a plan, payments and a dispute ----------------

def casework(huaxia: Tenant, lender: Tenant, *, collector_id, supervisor_id, lender_manager_id) -> None:
    """Huaxia's cases assigned to its collector; a promise broken last week (back in his queue), one due in two
    days, a payment recorded and confirmed by the lender, one awaiting confirmation, a signed three-month plan,
    and a dispute holding one case. Skipped when Huaxia has any promise on record."""
    from tenants.casework import assignment, disputes, payments, plans, promises, review
    from tenants.casework.money_models import Promise

    with tenant_scope(huaxia.id):
        if db.session.scalar(select(Promise.id).limit(1)) is not None:
            return
        cases = db.session.scalars(select(Account.id).join(Placement, Placement.account_id == Account.id).where(
            Placement.agency_tenant_id == huaxia.id, Placement.status == PlacementStatus.ACTIVE)
            .order_by(Account.outstanding_minor.desc())).all()
    if len(cases) < 6:
        return
    today = clock.now().astimezone(SHANGHAI).date()
    previous = clock.current_clock()
    try:
        clock.use(clock.FrozenClock(clock.now() - timedelta(days=8)))
        with tenant_scope(huaxia.id):
            assignment.assign(cases, collector_id, by_user_id=supervisor_id)
            promises.take(cases[0], amount="800.00", due_on=today - timedelta(days=5), user_id=collector_id,
                          note="Said he would pay after payday")
            db.session.commit()
        clock.use(previous)
        with tenant_scope(huaxia.id):
            review.review_agency()  # the promise above is past its grace days: broken, back in the queue
            promises.take(cases[1], amount="1200.00", due_on=today + timedelta(days=2), user_id=collector_id)
            confirmed = payments.record(cases[2], amount="500.00", received_on=today - timedelta(days=1),
                                        method="alipay", reference="ALI-20261129-001", user_id=collector_id).id
            payments.record(cases[3], amount="300.00", received_on=today, method="wechat_pay",
                            reference="WX-8812", user_id=collector_id)
            plan = plans.propose(cases[4], user_id=collector_id, total="3000.00", count=3, frequency="monthly",
                                 first_due_on=today + timedelta(days=10), note="Lost his job; agreed 3 instalments")
            plans.sign(plan.id, user_id=collector_id, acknowledgement="Verbal agreement on a recorded call")
            disputes.open_dispute(cases[5], category="wrong_amount", reason="Says the late fees were never agreed",
                                  source="user", user_id=collector_id)
            db.session.commit()
        with tenant_scope(lender.id):
            payments.confirm(confirmed, lender_manager_id)
            db.session.commit()
    finally:
        clock.use(previous)


# ---- champion/challenger history: a split placed months ago, with the money it brought in ----------------------

HISTORY_PORTFOLIO = "2026-06 逾期资产包（冠军/挑战者）"
HISTORY_ACCOUNTS = 160
HISTORY_MONTHS = 5
# Per agency: the chance an account pays in a month, and the share of its balance a payment brings.
HISTORY_PAYING = {"huaxia-collect": (0.075, 0.18, 0.45), "eastwind-recovery": (0.04, 0.12, 0.35)}


def champion_challenger_history(lender: Tenant, huaxia: Tenant, eastwind: Tenant, admin_id) -> None:
    """Jinxin's earlier file, 160 accounts split 70/30 between 华夏 (champion) and 东风 (challenger) on the 1st of
    the month five months back, both accepting; each month since, some debtors paid (the lender reports each
    payment, confirmed at once), 华夏's more often and more than 东风's — so the recovery analytics show curves by
    vintage and arm and a champion/challenger result with its interval. Skipped when the portfolio exists."""
    from tenants.casework import payments

    with tenant_scope(lender.id):
        if db.session.scalar(select(Portfolio.id).where(Portfolio.name == HISTORY_PORTFOLIO)) is not None:
            return
    start = clock.now().astimezone(SHANGHAI).date().replace(day=1)
    for _ in range(HISTORY_MONTHS):
        start = (start - timedelta(days=1)).replace(day=1)
    rng = random.Random(2606)
    previous = clock.current_clock()
    try:
        clock.use(clock.FrozenClock(datetime.combine(start, time(10, 0), tzinfo=SHANGHAI)))
        with tenant_scope(lender.id):
            portfolio = imports.get_or_create_portfolio(HISTORY_PORTFOLIO)
            rows = list(cn_account_rows(random.Random(2606), HISTORY_ACCOUNTS, ref_prefix="JXH"))
            job = imports.create_import(portfolio=portfolio, filename="金信网贷-2026-06-逾期资产包.csv",
                                        stream=io.BytesIO(csv_bytes(CN_HEADER, rows, "gbk")), mapping=None,
                                        uploaded_by=admin_id)
            imports.run_import(job.id)
            batch = services.place(lender=lender, selection=services.Selection(portfolio_id=portfolio.id),
                                   weights={huaxia.id: 70, eastwind.id: 30}, terms={"period_days": 270},
                                   created_by=admin_id, seed=PLACEMENT_SEED, debtors_notified=True)
            batch_id = batch.id
            db.session.commit()
        for agency in (huaxia, eastwind):
            with tenant_scope(agency.id):
                services.respond(batch_id, accept=True)
                db.session.commit()
        with tenant_scope(lender.id):
            held = db.session.execute(select(Placement.account_id, Placement.agency_tenant_id)
                                      .where(Placement.batch_id == batch_id).order_by(Placement.account_id)).all()
        slug_of = {huaxia.id: huaxia.slug, eastwind.id: eastwind.slug}
        today = previous.now().astimezone(SHANGHAI).date()
        for month in range(HISTORY_MONTHS + 1):
            day = (start + timedelta(days=month * 31)).replace(day=10)  # the 10th of each month since
            if day >= today:
                break
            clock.use(clock.FrozenClock(datetime.combine(day, time(11, 0), tzinfo=SHANGHAI)))
            with tenant_scope(lender.id):
                for account_id, agency_id in held:
                    chance, low, high = HISTORY_PAYING[slug_of[agency_id]]
                    if rng.random() >= chance:
                        continue
                    outstanding = db.session.scalar(select(Account.outstanding_minor).where(
                        Account.id == account_id, Account.status == "open"))
                    if not outstanding:
                        continue
                    amount = max(100, min(outstanding, int(outstanding * rng.uniform(low, high))))
                    payments.record(account_id, amount=f"{amount // 100}.{amount % 100:02d}", received_on=day,
                                    method=rng.choice(("alipay", "wechat_pay", "bank_transfer")))
                db.session.commit()
    finally:
        clock.use(previous)
