"""Portfolios: importing lenders' files of overdue accounts, column mappings, accounts and lender updates."""
