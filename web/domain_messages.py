"""Domain messages in the reader's language, rendered when they are shown, never when they are stored.

The domain (tenants/) raises and stores errors as a machine code, an English message and parameters — a
``DomainError``'s ``details``, an import row error's ``params``. This catalog maps each code to lazy-gettext
templates with named parameters, and ``describe(code, params, fallback)`` renders one in the current language:
a lender who switches to Chinese reads yesterday's stored import errors in Chinese.

* One code may have several messages: ``params["variant"]`` picks the entry ``"<code>/<variant>"``.
* An entry lists its templates richest first; the first whose parameters are all present is used, so an error
  stored before it had parameters (or raised without them) still reads well from a shorter template.
* Codes ending in ``.not_found`` share the generic "Not found." unless they have an entry of their own.
* ``ENGLISH_ONLY`` names the codes that never reach a page, with the reason; tests/unit/test_translations.py
  fails for a code raised in tenants/ that is in neither.

The API keeps the English message (a stable contract for integrations) and adds the parameters beside it
(``api_params``).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from flask import current_app
from flask_babel import LazyString, format_decimal, get_locale, pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from tenants.errors import DomainError
from tenants.portfolios import limits
from tenants.portfolios.limits import megabytes


def _p(context: str, text: str) -> LazyString:
    """A template with a message context (pybabel extracts ``pgettext`` calls)."""
    return LazyString(lambda: pgettext(context, text))


MESSAGES: dict[str, tuple] = {
    # ---- the error hierarchy's defaults and HTTP-level refusals (web/errors.py)
    "error": (_l("The request could not be completed."),),
    "validation.failed": (_l("Some fields are invalid."),),
    "not_found": (_l("Not found."),),
    "auth.required": (_l("Please sign in to continue."),),
    "auth.forbidden": (_l("Your role does not allow this."),),
    "access.write_refused": (_l("This change is not yours to make."),),
    "conflict": (_l("The request conflicts with the current state."),),
    "service.unavailable": (_l("The service is briefly unavailable. Try again in a minute."),),
    "tenant.suspended": (_l("This organisation is suspended on Recoverly."),),
    "request.bad": (_l("The request is not valid."),),
    "request.malformed": (_l("The request body is not valid JSON."),),
    "request.method_not_allowed": (_l("This method is not allowed here."),),
    "request.too_large": (_l("The upload is %(size)s; the limit is %(limit)s."),
                          _l("The upload is larger than the limit of %(limit)s."),
                          _l("The upload is larger than the limit.")),
    "request.unsupported_media_type": (_l("This kind of content is not accepted here."),),
    "auth.throttled": (_l("Too many attempts. Wait a moment and try again."),),
    "csrf.invalid": (_l("The form expired or was already used. Go back, reload the page and try again."),),
    "input.invalid_value": (_l("A value is too long or out of range."),),
    "internal": (_l("Something went wrong on our side. It has been logged."),),

    # ---- import row errors (tenants/portfolios/values.py, rows.py)
    "required": (_l("This row has no %(field)s, which is required."), _l("A required value is missing.")),
    "required/due": (_l("This row has neither a due date nor days past due; one is required."),),
    "required/contact_name": (_l("This contact has a phone number or relationship but no name; a contact needs "
                                 "a name."),),
    "required/unmapped": (_l("No column is mapped to %(field)s, which is required."),),
    "date.invalid": (_l("'%(value)s' is not a date; write it as YYYY-MM-DD, e.g. 2024-03-05 (2024/3/5, 20240305 "
                        "and 2024年3月5日 also work)."),
                     _l("This is not a date; write it as YYYY-MM-DD, e.g. 2024-03-05.")),
    "date.invalid/not_real": (_l("'%(value)s' is not a real calendar date; write it as YYYY-MM-DD, e.g. "
                                 "2024-03-05."),),
    "date.invalid/year": (_l("'%(value)s' has an implausible year; write it as YYYY-MM-DD, e.g. 2024-03-05."),),
    "date.invalid/one": (_l("Expected one date; write it as YYYY-MM-DD, e.g. 2024-03-05."),),
    "date.ambiguous": (_l("'%(value)s' could be read day-first or month-first; write it as YYYY-MM-DD, e.g. "
                          "2024-03-05."),
                       _l("This date could be read day-first or month-first; write it as YYYY-MM-DD.")),
    "date.order": (_l("The due date %(due)s is before the loan date %(loan)s."),
                   _l("The due date is before the loan date.")),
    "flag.invalid": (_l("'%(value)s' is not a yes/no value; use 1/0, yes/no, true/false or 是/否."),
                     _l("This is not a yes/no value; use 1/0, yes/no, true/false or 是/否.")),
    "type.invalid": (_l("Expected a single value here, not a list or object."),),
    "type.invalid/phones": (_l("Expected phone numbers as text or a list of text."),),
    "type.invalid/contacts": (_l('Expected a list of contacts like [{"name": "…", "phone": "…", '
                                 '"relationship": "…"}].'),),
    "type.invalid/contact_value": (_l("A contact's %(key)s must be a single value, not a list or object."),),
    "text.too_long": (_l("This value has %(length)s characters; at most %(limit)s are allowed."),
                      _l("This value is too long.")),
    "number.invalid": (_l("'%(value)s' is not a number of days; use a whole number from 0 to %(max)s."),
                       _l("This is not a number of days; use a whole number.")),
    "timezone.invalid": (_l("'%(value)s' is not an IANA time zone; use a name such as Asia/Shanghai, "
                            "America/New_York or Europe/London."),
                         _l("This is not an IANA time zone; use a name such as Asia/Shanghai.")),
    "email.invalid": (_l("'%(value)s' is not an email address."), _l("This is not an email address.")),
    "email.invalid/import": (_l("'%(value)s' is not an email address; expected name@example.com."),),
    "id_type.invalid": (_l("'%(value)s' is not an ID type; use one of %(types)s."),
                        _l("This is not an ID type; use cn_resident_id, passport, national_id, ssn or other.")),
    "money.invalid": (_l("'%(value)s' is not an amount; write a number such as 1234.50 (thousands separators "
                         "and a currency symbol are allowed)."),
                      _l("This is not an amount; write a number such as 1234.50.")),
    "money.invalid/too_large": (_l("'%(value)s' is implausibly large for one account; check the amount."),),
    "money.too_precise": (_l("'%(value)s' has more than %(digits)s decimal places, the most %(currency)s allows."),
                          _l("This amount has more decimal places than its currency allows.")),
    "money.negative": (_l("'%(value)s' is negative; amounts owed must be zero or more."),
                       _l("This amount is negative; amounts owed must be zero or more.")),
    "money.unknown_currency": (_l("'%(value)s' is not a currency code."), _l("Unknown currency.")),
    "money.unknown_currency/import": (_l("'%(value)s' is not a currency code; use an ISO 4217 code such as CNY, "
                                         "USD, GBP or INR."),),
    "money.too_large": (_l("This amount is too large."),),
    "placement.terms_invalid": (_l("These conduct terms cannot be used (%(problem)s): a lender may only tighten "
                                   "the rulebook, with values of each rule's own kind."),
                                _l("These conduct terms cannot be used: a lender may only tighten the rulebook.")),
    "cn_id.format": (_l("A resident ID has 17 digits and a check digit or X."),),
    "cn_id.format/import": (_l("A resident ID has 17 digits and a check digit or X. Expected 17 digits then a "
                               "digit or X, e.g. 11010519491231002X; if this is another kind of document, add an "
                               "ID type column (passport, national_id, other)."),),
    "cn_id.checksum": (_l("The resident ID's check digit does not match."),),
    "cn_id.checksum/import": (_l("The resident ID's check digit does not match. Check the number for a mistyped "
                                 "digit."),),
    "cn_id.birth_date": (_l("The resident ID's birth date is not a real date."),),
    "cn_id.birth_date/import": (_l("The resident ID's birth date is not a real date. Characters 7-14 must be the "
                                   "birth date as YYYYMMDD."),),
    "phone.invalid": (_l("'%(value)s' is not a valid phone number for %(region)s; check the digits, or start a "
                         "foreign number with + and its country code."),
                      _l("This is not a valid phone number.")),
    "row.extra_values": (_l("This row has more cells than there are column headers (extra: '%(extra)s'); remove "
                            "them or give the column a header."),
                         _l("This row has more cells than there are column headers; remove them or give the "
                            "column a header.")),
    "external_ref.duplicate_in_file": (_l("%(ref)s appears earlier in this file; each account once."),
                                       _l("This reference appears earlier in this file; each account once.")),

    # ---- whole-file refusals (tenants/portfolios/parsing.py, imports.py, workbook.py, fields.py)
    "import.empty_file": (_l("The file is empty: nothing was imported."),),
    "import.empty_file/blank_lines": (_l("The file has no rows, only blank lines."),),
    "import.empty_file/no_sheets": (_l("The workbook has no worksheets."),),
    "import.empty_file/empty_sheet": (_l("The first worksheet is empty."),),
    "import.empty_file/empty_list": (_l("The JSON list is empty."),),
    "import.undecodable": (_l("The file's text cannot be read. Save it as UTF-8 or GBK CSV and upload it "
                              "again."),),
    "import.undecodable/line": (_l("Line %(line)s is not valid %(encoding)s text, unlike the lines before it. "
                                   "Save the whole file in one encoding, preferably CSV UTF-8."),
                                _l("The file's text cannot be read. Save it as UTF-8 or GBK CSV and upload it "
                                   "again.")),
    "import.too_large": (_l("The file (%(size_mb)s MB) is larger than the limit of %(limit_mb)s MB. Split it and "
                            "upload the parts."),
                         _l("The file is %(size)s; the limit is %(limit)s. Split it and upload the parts."),
                         _l("The file is larger than the limit of %(limit_mb)s MB. Split it and upload the "
                            "parts."),
                         _l("The file is larger than the limit of %(limit)s. Split it and upload the parts."),
                         _l("The file is larger than the upload limit. Split it and upload the parts.")),
    "import.file_too_large_uncompressed": (_l("The workbook unpacks to far more data than a spreadsheet holds "
                                              "(over %(limit)s, or more than %(ratio)s times its size), so it was not "
                                              "opened. Save it again from Excel or as CSV."),),
    "import.too_many_rows": (_l("The file has more than %(rows)s rows, the most one import takes. Split it and "
                                "upload the parts."),),
    "import.failed": (_l("The import stopped on an internal error; the rows before it were imported. Upload the "
                         "file again to finish: imported rows are updated, not duplicated."),),
    "import.missing_columns": (_l("Required columns are missing: map a column to %(missing)s; the file has no "
                                  "column %(absent)s."),
                               _l("Required columns are missing: map a column to %(missing)s."),
                               _l("Required columns are missing: the file has no column %(absent)s."),
                               _l("Required columns are missing. Check the header row, or untick the saved "
                                  "mapping so the headers are matched afresh.")),
    "import.no_header": (_l("The file has no header row."),),
    "import.bad_format": (_l("This file cannot be read as a portfolio."),),
    "import.bad_format/long_header": (_l("Column %(column)s's name is longer than %(limit)s characters; is the "
                                         "first row really the header?"),),
    "import.bad_format/duplicate_headers": (_l("Column names must be unique; repeated: %(names)s."),),
    "import.bad_format/unreadable_row": (_l("The row starting on line %(line)s cannot be read; check for an "
                                            "unbalanced quote (\")."),),
    "import.bad_format/unclosed_quote": (_l("A quote (\") opened on line %(line)s or earlier is never closed, so "
                                            "the rest of the file would be read as one value. Fix the quote and "
                                            "upload again."),),
    "import.bad_format/header_too_long": (_l("The header row is longer than %(kb)s KB; is the first row really "
                                             "the header?"),),
    "import.bad_format/binary": (_l("This is not a text file: a CSV has no zero bytes. Was an Excel .xls or another "
                                    "binary file renamed? Save it as CSV UTF-8 (or .xlsx) and upload it again."),),
    "import.bad_format/not_xlsx": (_l("The file is not a readable Excel workbook (.xlsx). Old .xls files must be "
                                      "saved as .xlsx or CSV."),),
    "import.bad_format/json_not_list": (_l("A JSON import must be a list of objects, one per account."),),
    "import.bad_format/json_record": (_l("Record %(line)s is not an object; a JSON import must be a list of "
                                         "objects."),),
    "import.no_rows": (_l("The file has a header but no rows: nothing was imported."),),
    "import.not_finished": (_l("Wait until the import has finished."),),
    "account.in_other_portfolio": (_l("%(ref)s is in the portfolio '%(portfolio)s'; it was left there (the import "
                                      "page offers to move it)."),
                                   _l("This account is in another portfolio; it was left there (the import page "
                                      "offers to move it).")),
    "import.account_in_other_portfolio": (
        _l("%(count)s accounts of this file are already in portfolio %(portfolio)s; upload them there, or move "
           "them first."),
        _l("Some accounts of this file are already in portfolio %(portfolio)s; upload them there, or move them "
           "first."),
        _l("Some accounts of this file are already in another portfolio; upload them there, or move them first.")),
    "mapping.invalid": (_l("The column mapping does not fit this file."),),
    "pagination.bad_cursor": (_l("The cursor is not valid; start again without it."),),
    # outbound webhooks
    "webhook.url_invalid": (_l("Enter a full http:// or https:// URL."),),
    "webhook.url_scheme": (_l("Only http:// and https:// URLs can receive webhooks."),),
    "webhook.url_credentials": (_l("A webhook URL may not carry a user name or password; verify the signature "
                                   "instead."),),
    "webhook.url_unresolvable": (_l("The host %(host)s could not be resolved."),
                                 _l("The host could not be resolved.")),
    "webhook.url_blocked_address": (_l("%(host)s is or resolves to %(address)s, an internal address: webhooks go "
                                       "only to public addresses."),
                                    _l("This URL points at an internal address: webhooks go only to public "
                                       "addresses.")),
    "webhook.event_types_invalid": (_l("Unknown event types: %(unknown)s."), _l("Choose at least one event type.")),
    "webhook.overlap_invalid": (_l("The overlap is 0 to %(max)s hours."),),
    "webhook.already_enabled": (_l("The endpoint is already enabled."),),
    "webhook.already_disabled": (_l("The endpoint is already disabled."),),
    "webhook.endpoint_disabled": (_l("Enable the endpoint before asking for a delivery again."),),
    # the debtor's self-service portal (tenants/portal)
    "portal.code_invalid": (_l("This code is not right, or it has expired. Ask for a new code."),),
    "portal.throttled": (_l("Too many tries. Wait a while and try again."),),
    "portal.session_ended": (_l("Your session has ended. Open the link in your message again."),),
    "portal.not_available": (_l("This is not available for this account online; contact your creditor."),),
    "portal.plan_outside_limits": (_l("This plan is outside what can be agreed online (at most %(max_instalments)s "
                                      "instalments)."), _l("This plan is outside what can be agreed online.")),
    "portal.payments_unavailable": (_l("Online payment is not set up for this creditor."),),
    "portal.payment_unavailable": (_l("The payment service did not answer. Nothing was taken; try again."),),
    "portal.payment_declined": (_l("The payment was declined. Nothing was taken; try another card or method."),),
    "portal.payment_not_found": (_l("No such payment on this account."),),
    "portal.signature_incomplete": (_l("Tick the box and type your full name to sign."),),
    "portal.request_not_found": (_l("No such request from the debtor."),),
    "portal.request_not_yours": (_l("Only the agency the debtor asked may answer."),),
    "portal.request_answered": (_l("This request has been answered already."),),
    "portal.answer_required": (_l("Say why the request is declined."),),
    "portal.link_not_found": (_l("No such portal link."),),
    "portal.link_revoked": (_l("This link is already revoked."),),
    "portal.session_not_found": (_l("No such portal session."),),
    # bulk exchange (files)
    "exchange.kind_invalid": (_l("Unknown kind of file; one of %(kinds)s."), _l("Unknown kind of file.")),
    "exchange.format_invalid": (_l("Export as CSV or Excel."),),
    "exchange.period_invalid": (_l("The period is not valid."),),
    "exchange.period_invalid/order": (_l("The period ends before it starts."),),
    "exchange.period_invalid/future": (_l("The period is in the future."),),
    "exchange.period_invalid/long": (_l("The period is longer than %(max_days)s days."),
                                     _l("The period is too long.")),
    "exchange.period_invalid/format": (_l("Enter dates as YYYY-MM-DD."),),
    "exchange.period_invalid/snapshot": (_l("An accounts file is today's snapshot; leave the period empty."),),
    "exchange.period_invalid/one_day": (_l("A “what changed” file covers one day; the period is %(days)s days."),
                                        _l("A “what changed” file covers one day; choose one day.")),
    "exchange.counterparty_required": (_l("Choose whose changes the file lists."),),
    "exchange.schedule_invalid": (_l("Choose daily or weekly, an hour from 0 to 23 and, weekly, a day of the "
                                     "week."),),
    "exchange.not_ready": (_l("The file is not ready yet."),),
    "exchange.not_failed": (_l("Only a failed file can be made again."),),
    "exchange.expired": (_l("This file's download window has closed; ask for a new one."),),
    "exchange.masked_for_role": (_l("This file shows personal data your role sees masked; ask for a file of your "
                                    "own."),),
    "exchange.generation_failed": (_l("The file could not be made; it is tried again automatically."),),
}


def _catalogue(entries: dict[str, str]) -> None:
    """Entries whose only template is their constant English message (most refusals of the services)."""
    for code, template in entries.items():
        MESSAGES.setdefault(code, (template,))


_catalogue({
    # accounts, payments and balance updates
    "account.closed": _l("This account is closed."),
    "update.amount_not_positive": _l("A payment must be more than zero."),
    "update.future_date": _l("The date is in the future."),
    "update.negative_balance": _l("The adjustment would make the balance negative."),
    "update.overpayment": _l("The payment is larger than the outstanding balance."),
    "payment.already_reversed": _l("This payment is already reversed."),
    "payment.amount_not_positive": _l("A payment must be more than zero."),
    "payment.currency_mismatch": _l("The payment's currency is not the account's."),
    "payment.exceeds_balance": _l("The payment is now larger than the outstanding balance; reverse it or adjust "
                                  "the balance first."),
    "payment.lender_only": _l("Only the account's lender confirms or reverses a payment."),
    "payment.not_pending": _l("Only a payment awaiting confirmation can be confirmed."),
    "payment.overpayment": _l("The payment is larger than the outstanding balance."),
    "payment.reason_required": _l("Say why the payment is reversed."),
    "money.not_positive": _l("The amount must be more than zero."),
    "money.over_balance": _l("The amount is larger than the outstanding balance."),
    # agencies and placements
    "agency.already_on_panel": _l("This agency is already on your panel."),
    "agency.bad_status": _l("This agency relationship cannot change to that status."),
    "agency.contract_dates": _l("The contract must end after it starts."),
    "placement.agency_not_approved": _l("Placements go only to agencies on your panel with a current contract."),
    "placement.already_answered": _l("This offer was already answered."),
    "placement.agencies_only": _l("Only an agency answers a placement offer."),
    "placement.channel_not_allowed": _l("This placement does not allow this channel."),
    "placement.concurrent": _l("Some of these accounts were placed by someone else meanwhile; review and try "
                               "again."),
    "placement.no_agency": _l("Choose at least one agency."),
    "placement.selection_changed": _l("The selection changed since the preview; preview it again."),
    "placement.nothing_selected": _l("No open, unplaced account matches this selection."),
    "recall.blocked": _l("Some accounts cannot be recalled now; a lender admin may force it."),
    "recall.force_not_allowed": _l("Only a lender admin can force a recall."),
    "recall.reason_required": _l("Give a reason for the recall."),
    "billing.placements_suspended": _l("New cases cannot be placed at the moment (see Billing)."),
    "billing.day_fixed": _l("The billing day is fixed once a case has been billed."),
    "billing.platform_tenant": _l("The platform does not bill itself."),
    "commission.bad_month": _l("A month is written YYYY-MM, e.g. 2026-11."),
    # approvals, holds, disputes, legal steps
    "approval.already_decided": _l("This request has already been decided."),
    "approval.expired": _l("This approval has expired; ask again."),
    "approval.mismatch": _l("This approval is for another account, channel or target."),
    "approval.not_approver": _l("Only the lender decides its approval requests."),
    "approval.not_yours": _l("This approval was given to another tenant."),
    "approval.used": _l("This approval has already been used."),
    "approval.wrong_role": _l("Your role cannot decide this request."),
    "hold.already_resolved": _l("This hold is already resolved."),
    "hold.not_writable": _l("Only the lender or the tenant that opened this hold may resolve it."),
    "dispute.already_resolved": _l("This dispute is already resolved."),
    "dispute.not_writable": _l("Only the lender or the agency that opened this dispute may resolve it."),
    "conduct.needs_approval": _l("This message needs the lender's approval first; it was not sent."),
    "call.not_allowed": _l("Only a supervisor or the case's collector may dial this number."),
    "evidence.tampered": _l("The stored file no longer matches the digest recorded when it was uploaded."),
    "legal.already_decided": _l("This escalation has already been decided."),
    "legal.already_open": _l("A legal escalation of this account is already under way."),
    "legal.not_approved": _l("Only an escalation the lender approved can be filed."),
    "legal.not_decider": _l("Only the lender decides a legal escalation."),
    "legal.not_permitted": _l("The conduct rules no longer allow legal steps on this debt (it may be time-barred "
                              "or on hold)."),
    "legal.not_yours": _l("Only the agency that asked files the legal step."),
    "legal.wrong_role": _l("A lender manager decides legal escalations."),
    "conduct.baseline_lenders_only": _l("Only lenders have a conduct baseline."),
    "contact_attempt.not_pending": _l("Only an attempt under way takes an outcome."),
    "contact_attempt.not_yours": _l("Only the tenant that made this attempt records its outcome."),
    # casework
    "assignment.no_cases": _l("Choose at least one case."),
    "assignment.no_collectors": _l("Choose at least one collector."),
    "assignment.no_regions": _l("Map at least one region to a collector."),
    "assignment.not_a_collector": _l("Cases go to active collectors or supervisors of this agency."),
    "assignment.not_yours": _l("This case is assigned to another collector."),
    "assignment.supervisors_only": _l("Only an agency admin or supervisor assigns cases."),
    "assignment.too_many": _l("Too many cases at once; choose fewer."),
    "callback.closed": _l("This callback is already closed."),
    "callback.in_past": _l("A callback is scheduled for a time still to come."),
    "note.length": _l("A note is too long or empty."),
    "promise.due_in_past": _l("The promised date is in the past."),
    "promise.not_open": _l("Only an open promise can be cancelled."),
    "promise.not_yours": _l("Only the agency that took this promise may cancel it."),
    "promise.reason_required": _l("Say why the promise is cancelled."),
    "plan.already_open": _l("This account already has a proposed or active plan; cancel it first."),
    "plan.cancel_needs_supervisor": _l("Only a supervisor or an agency admin may end a signed plan."),
    "plan.invalid_schedule": _l("The instalment schedule is not valid."),
    "plan.lapsed": _l("The first instalment is already past due; propose a new plan."),
    "plan.not_open": _l("Only a proposed or active plan can be cancelled."),
    "plan.not_proposed": _l("Only a proposed plan can be signed."),
    "plan.not_yours": _l("Only the agency that agreed this plan may change it."),
    "plan.reason_required": _l("Say why the plan is cancelled."),
    "plan.signature_required": _l("Say how the debtor agreed, or attach the signed agreement."),
    "plan.too_long": _l("The plan runs longer than allowed."),
    "settlement.account_closed": _l("Only an open account with a balance can be settled."),
    "settlement.already_open": _l("A settlement offer on this account is still open."),
    "settlement.lapsed": _l("The deadline of this offer has passed."),
    "settlement.not_covered": _l("Confirmed payments since the offer fall short of the settlement amount."),
    "settlement.not_decider": _l("Only the lender decides a settlement beyond the agency's limit."),
    "settlement.not_yours": _l("Only the agency that made this offer records what happens to it."),
    "settlement.wrong_role": _l("A lender manager decides settlements."),
    "settlement.wrong_status": _l("This settlement offer is not in a state that allows this."),
    "agreement.already_signed": _l("The agreement is already signed."),
    "agreement.no_instalments": _l("A plan needs instalments before its agreement can be prepared."),
    "agreement.not_yours": _l("Only the tenant that prepared the agreement records its signature."),
    "evidence.empty": _l("The file is empty."),
    "evidence.too_large": _l("The file is larger than the evidence limit."),
    "reveal.no_value": _l("Nothing is recorded to reveal."),
    "reveal.not_allowed": _l("Only a supervisor or the case's collector may see this in full."),
    "performance.bad_period": _l("The period ends before it starts."),
    "performance.period_too_long": _l("The period is too long; ask for fewer days at a time."),
    "report.bad_period": _l("The period ends before it starts."),
    "report.period_too_long": _l("The period is too long; ask for fewer days at a time."),
    "analytics.bad_month": _l("A month is written YYYY-MM, e.g. 2026-11."),
    "analytics.bad_months": _l("Ask for 1 to 36 months."),
    "analytics.batch_required": _l("Choose the allocation whose arms to compare."),
    "analytics.month_not_over": _l("Choose a month that has ended."),
    # complaints, messages and templates
    "complaint.agency_not_placed": _l("This agency never held a placement of this account."),
    "complaint.bad_transition": _l("The complaint cannot move to that status from its current one."),
    "complaint.not_writable": _l("Only the lender or a platform admin takes in and resolves complaints."),
    "message.no_address": _l("The account has no address for this channel."),
    "template.blocking_findings": _l("This template breaks the conduct rules; fix the findings listed with it."),
    "template.invalid": _l("The template has errors; see the fields."),
    "template.lender_only": _l("Only a lender writes message templates."),
    "template.not_approved": _l("Only an approved template can be sent."),
    "template.not_editable": _l("An approved or retired version is never changed: make a new version."),
    "template.not_owner": _l("Only the lender that owns this template may change it."),
    "template.open_version_exists": _l("A newer version of this template is still open: edit it instead."),
    "template.other_lender": _l("This template belongs to another lender than the account."),
    "template.wrong_status": _l("This template version is not in a state that allows this."),
    "template.wrong_target": _l("This template is written for another recipient."),
    # people, tenants, tokens
    "auth.invalid_credentials": _l("Wrong email or password."),
    "auth.wrong_password": _l("The current password is wrong."),
    "invitation.expired": _l("This invitation link has expired. Ask for a new one."),
    "invitation.invalid": _l("This invitation link is not valid or was already used."),
    "invitation.password_mismatch": _l("This email already has an account: enter its current password."),
    "membership.bad_role": _l("That is not a role of this organisation."),
    "membership.self": _l("You cannot deactivate yourself."),
    "tenant.bad_status": _l("That is not a status an organisation can have."),
    "tenant.platform_immutable": _l("The platform tenant cannot be suspended."),
    "tenant.slug_taken": _l("This address is already taken."),
    "token.bad_role": _l("That is not a role of this organisation."),
    "token.role_above_creator": _l("A token's role is at most its creator's."),
})

# Codes raised in tenants/ that never reach a page in a person's language, and why.
ENGLISH_ONLY: dict[str, str] = {
    "auth.invalid_token": "API only: a bearer token's refusal, read by integrations in English",
    "auth.token_creator_inactive": "API only: a bearer token's refusal, read by integrations in English",
    "idempotency.key_reused": "API only: the Idempotency-Key header exists only on the API",
    "complaint.platform_context": "a programming guard: platform code must enter a platform context first",
}

_PARAM = re.compile(r"%\((\w+)\)s")


def _english() -> bool:
    locale = get_locale()
    return locale is None or locale.language == "en"


def _list_separator() -> str:
    locale = get_locale()
    return "、" if locale is not None and locale.language == "zh" else ", "


def field_label(name: str) -> str:
    """An import field's name as a person reads it (``phone_2`` → "phone #2")."""
    base, _, number = name.rpartition("_") if name.rsplit("_", 1)[-1].isdigit() else (name, "", "")
    label = str(FIELD_LABELS.get(base, base.replace("_", " ")))
    return f"{label} #{number}" if number else label


def field_description(name: str) -> str:
    """What an import field holds, for the column mapping page (tenants.portfolios.fields keeps the English)."""
    description = FIELD_DESCRIPTIONS.get(name)
    return str(description) if description is not None else name


def _missing_columns(params: Mapping) -> dict:
    missing = [" / ".join(field_label(part) for part in item.split("|")) for item in params.get("missing") or ()]
    absent = [f"'{header}'" for header in params.get("absent_headers") or ()]
    separator = _list_separator()
    return {**({"missing": separator.join(missing)} if missing else {}),
            **({"absent": separator.join(absent)} if absent else {})}


def _required(params: Mapping) -> dict:
    return {**params, "field": field_label(params["field"])} if params.get("field") else dict(params)


def _import_limits(params: Mapping) -> dict:
    """The limits a refusal names are the platform's own: a failed import stores no parameters, yet says them."""
    return {"limit": megabytes(current_app.config["UPLOAD_MAX_BYTES"]), **params}


# Parameters that need more than formatting before they go into a template.
_ADAPT: dict[str, Callable[[Mapping], dict]] = {
    "import.missing_columns": _missing_columns,
    "import.too_large": _import_limits,
    "import.file_too_large_uncompressed": lambda params: {
        "limit": megabytes(limits.XLSX_MAX_UNCOMPRESSED), "ratio": limits.XLSX_MAX_RATIO, **params},
    "import.too_many_rows": lambda params: {"rows": params.get("max_rows", limits.MAX_ROWS), **params},
    "required": _required,
    "required/unmapped": lambda params: {**params, "field": " / ".join(
        field_label(part) for part in str(params.get("field", "")).split(" or "))},
}


def _format(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return format_decimal(value)
    if isinstance(value, (list, tuple)):
        return _list_separator().join(str(v) for v in value)
    return str(value)


def entry_for(code: str, variant: str | None = None) -> tuple | None:
    """The catalog's templates for a code (and variant), or None when it has none."""
    if variant and f"{code}/{variant}" in MESSAGES:
        return MESSAGES[f"{code}/{variant}"]
    if code in MESSAGES:
        return MESSAGES[code]
    if code.endswith(".not_found"):
        return MESSAGES["not_found"]
    return None


def describe(code: str, params: Mapping | None = None, fallback: str | None = None) -> str:
    """The message of `code` with `params` in the current language; `fallback` (the stored English message) when
    the catalog has no template the parameters can fill."""
    if fallback and _english():  # the domain's own English words are the most precise an English reader can get
        return fallback
    params = dict(params or {})
    variant = params.get("variant")
    templates = entry_for(code, variant)
    if templates is None:
        return fallback or str(MESSAGES["error"][0])
    key = f"{code}/{variant}" if variant and f"{code}/{variant}" in MESSAGES else code
    adapt = _ADAPT.get(key)
    if adapt is not None:
        params = adapt(params)
    for template in templates:
        text = str(template)
        names = _PARAM.findall(text)
        if all(params.get(name) not in (None, "") for name in names):
            return text % {name: _format(params[name]) for name in names} if names else text
    return fallback or str(templates[-1])


def params_of(details: Mapping | None) -> dict:
    """A domain error's message parameters: its details without the per-field messages."""
    return {key: value for key, value in (details or {}).items() if key != "fields"}


def describe_error(error: DomainError) -> str:
    """A refusal as a page shows it: the conduct rules' own bilingual explanations when it carries them, else the
    catalog's message for its code."""
    blocking = [hit for hit in error.details.get("hits") or ()
                if isinstance(hit, dict) and hit.get("message_en") and hit.get("action") in ("BLOCK", "PAUSE")]
    if blocking:
        zh = get_locale() is not None and get_locale().language == "zh"
        return _("Refused by the conduct rules: %(why)s",
                 why="; ".join((hit.get("message_zh") if zh else None) or hit["message_en"] for hit in blocking))
    return describe(error.code, params_of(error.details), error.message)


def describe_cell_error(error) -> str:
    """An import row error (``tenants.portfolios.rows.CellError``) in the current language."""
    return describe(error.code, error.params, error.message)


def api_params(error: DomainError) -> dict:
    return params_of(error.details)


def field_errors(details: Mapping | None) -> dict[str, list[str]]:
    """Per-field messages of a refusal in the reader's language (the services write them in English)."""
    return {name: [str(FIELD_MESSAGES.get(text, text)) for text in (texts if isinstance(texts, list) else [texts])]
            for name, texts in ((details or {}).get("fields") or {}).items()}


# ---- import fields: names and descriptions (tenants/portfolios/fields.py holds the English descriptions)

FIELD_LABELS = {
    "external_ref": _l("external reference"), "debtor_name": _l("debtor name"), "id_type": _l("ID type"),
    "id_number": _l("ID number"), "phone": _l("phone"), "email": _l("email"), "address": _l("address"),
    "region": _l("region"), "time_zone": _l("time zone"), "product": _l("product"),
    "original_amount": _l("original amount"), "principal": _l("principal"), "interest": _l("interest"),
    "fees": _l("fees"), "penalty": _l("penalty"), "currency": _l("currency"), "loan_date": _l("loan date"),
    "due_date": _l("due date"), "days_past_due": _l("days past due"), "last_payment_date": _l("last payment date"),
    "last_payment_amount": _l("last payment amount"), "charge_off_date": _l("charge-off date"),
    "limitation_date": _l("limitation date"), "third_party_name": _l("contact name"),
    "third_party_phone": _l("contact phone"), "third_party_relationship": _l("contact relationship"),
    "third_parties": _l("third-party contacts"), "deceased": _l("deceased"), "bankrupt": _l("bankrupt"),
    "disputed": _l("disputed"), "attorney": _l("attorney"), "cease_requested": _l("cease requested"),
}

FIELD_DESCRIPTIONS = {
    "external_ref": _l("The lender's own reference for the loan account; unique within the lender."),
    "debtor_name": _l("The borrower's full name."),
    "id_type": _l("Kind of identity document: cn_resident_id, passport, national_id, ssn or other."),
    "id_number": _l("The identity document's number (for China, the 18-character resident ID)."),
    "phone": _l("The borrower's phone numbers; several columns and several numbers per cell are allowed."),
    "email": _l("The borrower's email address."),
    "address": _l("The borrower's postal address."),
    "region": _l("Province, state or region."),
    "time_zone": _l("IANA time zone (e.g. Asia/Shanghai); overrides the zone derived from the phone numbers."),
    "product": _l("The loan product."),
    "original_amount": _l("Amount originally lent; defaults to the principal."),
    "principal": _l("Outstanding principal."),
    "interest": _l("Outstanding interest."),
    "fees": _l("Outstanding fees."),
    "penalty": _l("Outstanding penalty interest or late charges."),
    "currency": _l("ISO 4217 currency code; defaults to the lender's currency."),
    "loan_date": _l("Date the loan was made."),
    "due_date": _l("Date the missed payment was due."),
    "days_past_due": _l("Days past due; derived from the due date when absent."),
    "last_payment_date": _l("Date of the last payment received."),
    "last_payment_amount": _l("Amount of the last payment received."),
    "charge_off_date": _l("Date the lender charged the loan off."),
    "limitation_date": _l("Date the limitation period for legal action ends."),
    "third_party_name": _l("Name of a third-party contact (e.g. an emergency contact)."),
    "third_party_phone": _l("Phone number of a third-party contact."),
    "third_party_relationship": _l("The contact's relationship to the borrower (spouse, parent, colleague …)."),
    "third_parties": _l("Third-party contacts as a list of {name, phone, relationship} objects (JSON only)."),
    "deceased": _l("The borrower has died (yes/no)."),
    "bankrupt": _l("The borrower is bankrupt or insolvent (yes/no)."),
    "disputed": _l("The borrower disputes the debt (yes/no)."),
    "attorney": _l("The borrower is represented by an attorney (yes/no)."),
    "cease_requested": _l("The borrower asked to stop being contacted (yes/no)."),
}

# The services' constant per-field messages (``details["fields"]``), by their English text.
FIELD_MESSAGES = {
    "Required.": _l("Required."),
    "Must be more than zero.": _l("Must be more than zero."),
    "Larger than the outstanding balance.": _l("Larger than the outstanding balance."),
    "Cannot be in the future.": _l("Cannot be in the future."),
    "Would make the balance negative.": _l("Would make the balance negative."),
    "Must be after the start.": _l("Must be after the start."),
    "No active agency with this address.": _l("No active agency with this address."),
    "Choose at least one case.": _l("Choose at least one case."),
    "Choose at least one collector.": _l("Choose at least one collector."),
    "Map at least one region to a collector.": _l("Map at least one region to a collector."),
    "Not an active collector of this agency.": _l("Not an active collector of this agency."),
    "Wrong password.": _l("Wrong password."),
    "Fixed once a case has been billed.": _l("Fixed once a case has been billed."),
    "Must be in the future.": _l("Must be in the future."),
    "YYYY-MM, e.g. 2026-11.": _l("YYYY-MM, e.g. 2026-11."),
    "Not a member of this tenant.": _l("Not a member of this tenant."),
    "Not a role of this organisation.": _l("Not a role of this organisation."),
    "At most your own role.": _l("At most your own role."),
    "No phone on file for this contact.": _l("No phone on file for this contact."),
    "On or after the first day.": _l("On or after the first day."),
    "Required without a signed document.": _l("Required without a signed document."),
    "This version is not approved.": _l("This version is not approved."),
    "Not a template of this account's lender.": _l("Not a template of this account's lender."),
    "Already taken.": _l("Already taken."),
    "Name the portfolio.": _l("Name the portfolio."),
}
