"""Auction rounds of a listing: scheduling, registrations and deposits, bids, the live feed, closing."""
