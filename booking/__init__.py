"""Citizen bookings, the reception desk and follow-up tickets."""
