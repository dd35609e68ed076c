"""One ``APIRouter`` per resource; ``gateway.app`` mounts them under ``/api/v1``.

Routes are thin: validate the body with its schema, check what only the gateway knows
(role, users, teams), then make one RPC call (docs/rpc.md) with the caller's principal.

Each router carries the full ``/api/v1/...`` prefix itself (rather than getting it from
``include_router``), so a route's own ``path_format`` is the complete template that metrics
and logs label requests with.
"""

API = "/api/v1"
