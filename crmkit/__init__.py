"""crmkit — the small library every CRM service shares.

Configuration, the database unit of work with its transactional outbox, the
outbox relay, reliable idempotent event handlers, metrics, JSON logging with
correlation ids, the caller's principal and typed domain errors. Nothing in
here knows about leads, customers or any other business concept.
"""
