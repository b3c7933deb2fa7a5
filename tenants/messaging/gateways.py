"""Where a message goes: a gateway takes one message and returns the id it knows the message by.

`OutboxGateway` (the default) delivers into the sending tenant's outbox: the message stays readable there,
marked sent — what a demo, a test or a tenant without a provider needs. `SmtpGateway` sends email through an
SMTP server. The configuration (``MESSAGE_GATEWAY``, ``SMTP_*``, ``MAIL_FROM``) is the app's, passed in by the
caller; ``MESSAGE_GATEWAY=smtp`` sends email by SMTP while SMS and letters stay in the outbox.

Every email carries a Message-ID made from the message's own id, so a message sent twice (a worker died between
the server's answer and our commit) is recognisable as one message downstream.
"""
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Protocol

from tenants import clock

GATEWAYS = ("outbox", "smtp")


@dataclass(frozen=True)
class Envelope:
    """What a gateway needs of a message, decrypted."""

    message_id: str
    channel: str
    recipient: str
    subject: str | None
    body: str
    sender_name: str


class GatewayError(Exception):
    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent  # retrying cannot help (the recipient was refused)


class Gateway(Protocol):
    name: str

    def send(self, message: Envelope) -> str: ...


class OutboxGateway:
    name = "outbox"

    def send(self, message: Envelope) -> str:
        return f"outbox:{message.message_id}"


class SmtpGateway:
    name = "smtp"

    def __init__(self, *, host: str, port: int, mail_from: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 30):
        self.host, self.port, self.mail_from = host, port, mail_from
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def message_id_header(self, message_id: str) -> str:
        domain = parseaddr(self.mail_from)[1].rpartition("@")[2] or "recoverly.localhost"
        return f"<{message_id}@{domain}>"

    def build(self, message: Envelope) -> EmailMessage:
        email = EmailMessage()
        display, address = parseaddr(self.mail_from)
        email["From"] = Address(display_name=message.sender_name or display, addr_spec=address)
        email["To"] = message.recipient
        email["Subject"] = message.subject or ""
        email["Message-ID"] = self.message_id_header(message.message_id)
        email["Date"] = format_datetime(clock.now())
        email.set_content(message.body)
        return email

    def send(self, message: Envelope) -> str:
        email = self.build(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as server:
                if self.starttls:
                    server.starttls()
                if self.username:
                    server.login(self.username, self.password or "")
                server.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise GatewayError(f"recipient refused by the mail server ({', '.join(map(str, codes))})",
                               permanent=all(code >= 500 for code in codes)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise GatewayError(f"mail server unavailable: {_describe(exc)}") from exc
        return email["Message-ID"]


def _describe(exc: Exception) -> str:
    """The error without the server's text, which may echo an address back (PII in a plain column)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} {exc.smtp_code}"
    return f"{type(exc).__name__}: {exc}"


def for_channel(channel: str, config: Mapping) -> Gateway:
    if channel == "email" and config.get("MESSAGE_GATEWAY") == "smtp":
        return SmtpGateway(host=config["SMTP_HOST"], port=int(config["SMTP_PORT"]), mail_from=config["MAIL_FROM"],
                           username=config.get("SMTP_USERNAME"), password=config.get("SMTP_PASSWORD"),
                           starttls=bool(config.get("SMTP_STARTTLS")))
    return OutboxGateway()
