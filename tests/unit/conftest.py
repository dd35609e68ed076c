"""Unit tier: pure domain rules and kit helpers. No broker, no database server, no network.

Rules like "who may claim a lead now" are functions of data and a clock, so they are tested
with tables of cases. Anything that needs RabbitMQ or a store lives in tests/service,
tests/store or tests/e2e.
"""
