"""The staff home page and staff-account administration."""
