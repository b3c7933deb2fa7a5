"""Where a call goes. The domain hands a gateway one number to dial for one call of ours and gets back the id the
gateway knows the call by; how the call went comes back as `CallEvent`s (tenants.telephony.calls.report).

- `TelGateway` ("tel", the default): nothing dials on the server; the collector's softphone opens a `tel:` link
  (a SIP client registered for tel: takes it). The link carries the number, so a role that sees phones masked
  gets it only as an audited reveal (tenants.telephony.calls.place).
- `CtiGateway` ("cti"): the agency's CTI server places the call on the collector's line; the number never reaches
  the browser. Requests are JSON, signed like the callbacks it sends (``X-Recoverly-Signature: sha256=<hex>``, an
  HMAC-SHA256 of the body with ``TELEPHONY_SECRET``).
- `StandinGateway` ("standin"): the demo's and the tests' CTI, in-process. It "answers" at once and reports the
  call ended: numbers ending in 0 ring out unanswered, in 9 are busy, the rest talk for 30 s plus the last two
  digits.
"""
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

GATEWAYS = ("tel", "standin", "cti")
SIGNATURE_HEADER = "X-Recoverly-Signature"


@dataclass(frozen=True)
class DialRequest:
    reference: str  # our call id
    number: str  # E.164, decrypted: never logged, never stored in the clear
    callback_url: str | None = None


@dataclass(frozen=True)
class CallEvent:
    status: str  # answered, no_answer, busy, failed (tenants.telephony.models.CallStatus)
    duration_s: int | None = None


@dataclass(frozen=True)
class Dialled:
    gateway_call_id: str | None
    dial_url: str | None = None  # for the collector's softphone
    events: tuple[CallEvent, ...] = field(default_factory=tuple)  # reported at once (the stand-in)


class GatewayError(Exception):
    pass


class Gateway(Protocol):
    name: str
    places_calls: bool  # False: the browser dials, and sees the number

    def dial(self, request: DialRequest) -> Dialled: ...


class TelGateway:
    name, places_calls = "tel", False

    def dial(self, request: DialRequest) -> Dialled:
        return Dialled(gateway_call_id=None, dial_url=f"tel:{request.number}")


class StandinGateway:
    name, places_calls = "standin", True

    def dial(self, request: DialRequest) -> Dialled:
        last = request.number[-2:]
        if last.endswith("0"):
            event = CallEvent("no_answer", 0)
        elif last.endswith("9"):
            event = CallEvent("busy", 0)
        else:
            event = CallEvent("answered", 30 + int(last))
        return Dialled(gateway_call_id=f"standin-{request.reference}", events=(event,))


class CtiGateway:
    name, places_calls = "cti", True

    def __init__(self, *, url: str, secret: str, timeout: float = 10):
        self.url, self.secret, self.timeout = url.rstrip("/"), secret, timeout

    def dial(self, request: DialRequest) -> Dialled:
        body = json.dumps({"reference": request.reference, "number": request.number,
                           "callback_url": request.callback_url}).encode()
        http = urllib.request.Request(f"{self.url}/calls", data=body, method="POST", headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body)})
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # The error's text may echo the request back: the number stays out of messages.
            raise GatewayError(f"the CTI server did not take the call ({type(exc).__name__})") from None
        call_id = str(answer.get("call_id") or "")
        if not call_id:
            raise GatewayError("the CTI server answered without a call id")
        return Dialled(gateway_call_id=call_id)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str | None, body: bytes, header: str | None) -> bool:
    return bool(secret) and bool(header) and hmac.compare_digest(sign(secret, body), header)


def from_config(config: Mapping) -> Gateway:
    name = config.get("TELEPHONY_GATEWAY", "tel")
    if name == "cti":
        return CtiGateway(url=config["TELEPHONY_CTI_URL"], secret=config["TELEPHONY_SECRET"])
    if name == "standin":
        return StandinGateway()
    return TelGateway()
