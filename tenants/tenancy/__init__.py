"""Tenants, users, memberships, invitations and API tokens."""
