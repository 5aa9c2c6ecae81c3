"""Deposits and payouts through the payment gateways."""
