"""Test doubles for external services: a fake Stripe API served over HTTP."""
