"""The CRM gateway: the only public HTTP entry (FastAPI).

It owns identity (users, teams, roles), turns every authorised HTTP request
into one Nameko RPC call to a service (``gateway.rpc``), keeps the per-user
notification inbox fed by the services' events, and exports health and
Prometheus metrics. Run it with ``uvicorn gateway.app:app`` from the repo root.
"""
