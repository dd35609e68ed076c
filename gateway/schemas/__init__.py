"""Request and response models, one module per resource.

Separate models per direction (``LeadCreate`` / ``LeadUpdate`` / ``LeadPublic``): input
models forbid unknown fields, so a client can never write a field that only exists in the
public model (owner, status, customer_id, computed amounts) — it gets 422 instead.
Public models allow extra fields, so what a service adds reaches the client unchanged.
"""
