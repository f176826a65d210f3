"""Personal data: the retention policy and the purge of what the scheduler layer keeps (outbox, audit)."""
