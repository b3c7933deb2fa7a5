"""Webhook signatures as a receiver checks them, and the URL check against server-side request forgery."""
import time

import pytest

from tenants.webhooks import signing, urls

BODY = b'{"id":"evt","type":"payment.confirmed"}'


def test_a_signature_verifies_with_its_secret_only_and_within_the_tolerance():
    now = int(time.time())
    header = signing.header(["whsec_a"], now, BODY)
    assert header.startswith(f"t={now},v1=")
    assert signing.verify(header, BODY, "whsec_a")
    assert not signing.verify(header, BODY, "whsec_b")
    assert not signing.verify(header, BODY + b" ", "whsec_a"), "the body is signed"
    assert not signing.verify(header.replace(f"t={now}", f"t={now + 1}"), BODY, "whsec_a"), "the time is signed"
    old = signing.header(["whsec_a"], now - 301, BODY)
    assert not signing.verify(old, BODY, "whsec_a"), "a replay outside the tolerance is refused"
    assert not signing.verify("", BODY, "whsec_a") and not signing.verify("v1=abc", BODY, "whsec_a")


def test_during_an_overlap_either_secret_verifies():
    now = int(time.time())
    header = signing.header(["whsec_new", "whsec_old"], now, BODY)
    assert header.count("v1=") == 2
    assert signing.verify(header, BODY, "whsec_new") and signing.verify(header, BODY, "whsec_old")


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_x", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signing.signature("whsec_x", 1700000000, BODY) == expected


def resolver(table):
    def resolve(host, port):
        if host not in table:
            raise urls._refuse("webhook.url_unresolvable", "unresolvable", host=host)
        return table[host]
    return resolve


PUBLIC = resolver({"hooks.example.com": ["93.184.216.34"], "rebind.example.com": ["93.184.216.34", "10.0.0.7"],
                   "internal.example.com": ["192.168.1.10"], "v6.example.com": ["2606:2800:220:1::1"],
                   "v6-private.example.com": ["fd12:3456::1"]})


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://[::1]/",
    "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.0.1/", "http://169.254.169.254/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/", "http://0.0.0.0/", "http://224.0.0.1/", "http://240.0.0.1/",
    "http://[fd00:ec2::254]/", "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/", "http://[ff02::1]/", "http://[::]/",
    "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/", "http://0x7f.1/",
    "http://017700000001/", "http://internal.example.com/", "http://rebind.example.com/",
    "https://v6-private.example.com/",
])
def test_internal_addresses_are_refused_however_they_are_written(url):
    with pytest.raises(urls.UrlRefused) as refused:
        urls.check(url, resolve=PUBLIC)
    assert refused.value.code == "webhook.url_blocked_address"
    assert refused.value.status == 422


@pytest.mark.parametrize(("url", "code"), [
    ("ftp://hooks.example.com/", "webhook.url_scheme"), ("file:///etc/passwd", "webhook.url_scheme"),
    ("gopher://hooks.example.com/", "webhook.url_scheme"),
    ("https://user:pass@hooks.example.com/", "webhook.url_credentials"),
    ("https://user@hooks.example.com/", "webhook.url_credentials"),
    ("hooks.example.com/x", "webhook.url_scheme"), ("", "webhook.url_invalid"), ("https:///x", "webhook.url_invalid"),
    ("https://hooks.example.com:99999/", "webhook.url_invalid"),
    ("https://nowhere.example.com/", "webhook.url_unresolvable"),
])
def test_malformed_urls_are_refused_with_a_code(url, code):
    with pytest.raises(urls.UrlRefused) as refused:
        urls.check(url, resolve=PUBLIC)
    assert refused.value.code == code


def test_a_public_url_is_resolved_once_and_pinned():
    target = urls.check("https://hooks.example.com/in/recoverly?x=1", resolve=PUBLIC)
    assert (target.host, target.port, target.path, target.address) == (
        "hooks.example.com", 443, "/in/recoverly?x=1", "93.184.216.34")
    assert urls.check("http://v6.example.com:8080/", resolve=PUBLIC).address == "2606:2800:220:1::1"
    assert urls.check("http://93.184.216.34/").address == "93.184.216.34"


def test_private_addresses_pass_only_when_development_allows_them():
    assert urls.check("http://127.0.0.1:8430/hooks", allow_private=True).address == "127.0.0.1"
    for metadata in ("http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/", "http://100.100.100.200/",
                     "http://[fe80::1]/"):  # never, not even in development
        with pytest.raises(urls.UrlRefused) as refused:
            urls.check(metadata, allow_private=True)
        assert refused.value.code == "webhook.url_blocked_address"
    from tenants.webhooks.endpoints import allow_private

    assert allow_private({"ENV_NAME": "development", "WEBHOOKS_ALLOW_PRIVATE_URLS": True})
    assert not allow_private({"ENV_NAME": "production", "WEBHOOKS_ALLOW_PRIVATE_URLS": True})
    assert not allow_private({"ENV_NAME": "development", "WEBHOOKS_ALLOW_PRIVATE_URLS": False})
