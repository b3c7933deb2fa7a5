"""Where a webhook may go: a check against server-side request forgery, at registration and before each delivery.

Refused: schemes other than http(s); credentials in the URL; hosts that are, or resolve to, any address that is
not globally routable — loopback, private (RFC 1918), carrier-grade NAT (where Alibaba Cloud's metadata service
lives, 100.100.100.200), link-local (169.254.169.254, the usual metadata service), multicast, reserved,
unspecified, IPv6 unique-local (fd00:ec2::254, EC2's IPv6 metadata) and site-local — including such an address
wrapped in IPv6 (IPv4-mapped, NAT64, 6to4, Teredo) and spelled the ways resolvers accept (2130706433, 0x7f.1,
0177.0.0.1, 127.1). A host with several addresses is refused if any of them is refused.

At delivery the host is resolved once, checked again (a name may point elsewhere since it was registered: DNS
rebinding) and the connection goes to that checked address, with the Host header and TLS server name of the URL
(tenants.webhooks.delivery). `allow_private` (development and tests only, never production: web/config.py)
lets loopback and private addresses through, for the demo's receiver stand-in — never link-local or metadata
addresses.
"""
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from tenants.errors import ValidationFailed

MAX_URL_LENGTH = 2000
# The forms inet_aton accepts besides the dotted quad: decimal, octal, hexadecimal, fewer than four parts.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UrlRefused(ValidationFailed):
    """422 with a machine code (webhook.url_*) and the parameters web/domain_messages.py renders."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (an address that passed the check) and what to say to it."""

    url: str
    scheme: str
    host: str  # as written in the URL: the Host header and the TLS server name
    port: int
    path: str  # path and query
    address: str  # the resolved address the connection goes to


def _refuse(code: str, message: str, **params) -> UrlRefused:
    return UrlRefused(message, code=code, details={"fields": {"url": [message]}, **params})


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


# Cloud metadata services outside link-local (169.254.169.254 is link-local): never a webhook's, even in development.
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


def address_refused(address: str, *, allow_private: bool = False) -> bool:
    """Whether an address is one a webhook may not reach. `allow_private` (development: the demo's receiver on
    loopback) lets loopback and private networks through, never link-local or metadata addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates += _embedded_ipv4(ip)
    for one in candidates:
        if one in _METADATA or one.is_link_local or one.is_multicast or one.is_unspecified:
            return True
        if allow_private and (one.is_loopback or one.is_private):
            continue
        if (not one.is_global or one.is_loopback or one.is_private or one.is_reserved
                or (isinstance(one, ipaddress.IPv6Address) and one.is_site_local)):
            return True
    return False


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise _refuse("webhook.url_unresolvable", f"The host {host} could not be resolved.", host=host) from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def check(url: str, *, allow_private: bool = False, resolve=_resolve) -> Target:
    """Check a URL and resolve its host once; raises UrlRefused (422) with a code and the offending host."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise _refuse("webhook.url_invalid", "Enter a full http:// or https:// URL.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse("webhook.url_invalid", "Enter a full http:// or https:// URL.") from None
    if parts.scheme not in ("http", "https"):
        raise _refuse("webhook.url_scheme", "Only http:// and https:// URLs can receive webhooks.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _refuse("webhook.url_credentials", "A webhook URL may not carry a user name or password; "
                                                 "verify the signature instead.")
    host = parts.hostname
    if not host or any(c.isspace() for c in url):
        raise _refuse("webhook.url_invalid", "Enter a full http:// or https:// URL.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if _NUMERIC_HOST.match(host):
            try:  # what a resolver would make of 2130706433, 0x7f.1 or 0177.0.0.1
                addresses = [socket.inet_ntoa(socket.inet_aton(host.rstrip(".")))]
            except OSError:
                raise _refuse("webhook.url_invalid", "Enter a full http:// or https:// URL.") from None
        else:
            addresses = resolve(host, port)
    if not addresses:
        raise _refuse("webhook.url_unresolvable", f"The host {host} could not be resolved.", host=host)
    for address in addresses:
        if address_refused(address, allow_private=allow_private):
            raise _refuse("webhook.url_blocked_address",
                              f"{host} is or resolves to {address}, an internal address: webhooks go only to "
                              "public addresses.", host=host, address=address)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(url=url, scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0])
