"""Personal data: what okno holds about a citizen, for the citizen's rights and for retention."""
