"""Experts: the staff who consult, and their topics."""
