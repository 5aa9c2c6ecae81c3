"""Accounts, organisations and roles: who is who on the exchange."""
