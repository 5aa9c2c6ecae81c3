"""Reliability and security: faults on real services, bad input, abuse, authorization, records."""
