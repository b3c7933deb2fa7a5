"""A lender uploads a messy GBK file in Chromium, reads the broken rows, downloads the error file, and places
the good accounts with two agencies 70/30."""
import pytest

from tenants.db import db
from tenants.identifiers import cn_resident_id_check_char
from tests.factories import PASSWORD, Factory
from workers.connection import connection
from workers.worker import RecoverlyWorker

pytestmark = pytest.mark.browser


def _resident_id(n: int) -> str:
    body = f"3101151985{n % 12 + 1:02d}12{n % 900 + 100:03d}"
    return body + cn_resident_id_check_char(body)


@pytest.fixture
def lender_with_agencies(app):
    with app.app_context():
        factory = Factory(db.session)
        lender = factory.tenant("lender", name="Browser Lending")
        email = f"lender-{lender.slug}@example.test"
        factory.user(lender, "lender_admin", email=email)
        agencies = [factory.tenant("agency", name=name) for name in ("Champion Collect", "Challenger Recovery")]
        for agency in agencies:
            factory.panel(lender, agency)
        db.session.commit()
        result = (email, lender.slug, [a.name for a in agencies])
        db.session.remove()
    return result


def test_upload_read_errors_download_and_place_70_30(app, live_server, browser, lender_with_agencies, tmp_path):
    email, slug, (champion, challenger) = lender_with_agencies
    rows = [f"BR{n:04d},客户{n},{_resident_id(n)},1391234{n:04d},{1000 + n}.00,2026-09-01" for n in range(10)]
    rows.insert(4, "BR9001,坏行一,310115198501121000,13912349999,abc,2026-09-01")
    rows.insert(8, "BR9002,坏行二,,13912348888,100.00,31/12/2026")
    upload = tmp_path / "逾期资产包.csv"
    upload.write_bytes(("合同号,姓名,身份证号,手机号,本金,到期日\n" + "\n".join(rows) + "\n").encode("gbk"))

    page = browser.new_page(locale="en-US", accept_downloads=True)
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**/t/{slug}/")

    page.goto(f"{live_server}/t/{slug}/portfolios")
    page.set_input_files("#upload-form input[name=file]", str(upload))
    page.fill("#upload-form input[name=portfolio]", "November batch")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/imports/*")

    RecoverlyWorker(["imports"], connection=connection(), flask_app=app).work(burst=True, with_scheduler=False)
    page.reload()
    assert "gb18030" in page.inner_text("#import-encoding")
    errors = page.inner_text("#row-errors")
    assert "6" in errors and "money.invalid" in errors and "date.ambiguous" in errors and "cn_id" in errors
    with page.expect_download() as download:
        page.click("#error-file-link")
    report = download.value.path().read_bytes().decode("utf-8-sig")
    assert "BR9001" in report and "BR9002" in report and "BR0001" not in report

    page.goto(f"{live_server}/t/{slug}/placements")
    page.select_option("#place-form select[name=agency_1]", label=champion)
    page.fill("#place-form input[name=weight_1]", "70")
    page.select_option("#place-form select[name=agency_2]", label=challenger)
    page.fill("#place-form input[name=weight_2]", "30")
    page.fill("#place-form input[name=seed]", "42")
    page.click("#place-form button[type=submit]")
    page.click("#confirm-placement")  # placed only once the preview is confirmed
    page.wait_for_url("**/placements/batches/*")
    summary = page.inner_text("body")
    assert "10 accounts split 7/3" in summary
