"""Offers on a listing: acquisitions, licences, licence-backs and pledge-to-equity conversions."""
