"""Email: a transactional outbox written with the change, and a worker that delivers it."""
