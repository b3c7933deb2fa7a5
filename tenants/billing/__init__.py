"""Billing: per-case usage, Stripe invoicing through queued jobs, webhooks, delinquency, commission statements."""
