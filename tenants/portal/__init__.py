"""The debtor's self-service portal: a link in an approved message, a one-time code, then a short session that acts
for one account only (see tenants/portal/scope.py for how the session is fenced to that account)."""
