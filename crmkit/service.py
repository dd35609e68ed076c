"""What every service class shares: context, metrics, the principal and ``ping``."""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc as nameko_rpc

from crmkit.errors import DomainError
from crmkit.ids import new_id
from crmkit.logging import correlation_id
from crmkit.metrics import Metrics
from crmkit.principal import CurrentPrincipal


def rpc(fn=None, **kwargs):
    """Nameko's ``@rpc`` whose domain errors are expected answers (a warning, no traceback)."""
    kwargs.setdefault("expected_exceptions", DomainError)
    decorator = nameko_rpc(**kwargs)
    return decorator(fn) if fn is not None else decorator


class RequestContext(DependencyProvider):
    """Carries the correlation id from the caller's headers into logs and onward messages.

    A worker started without one (a timer, an event from an old producer) gets a new id,
    written back into its context data so the RPC calls and events it makes carry it on.
    """

    def worker_setup(self, worker_ctx):
        cid = worker_ctx.context_data.get("correlation_id") or new_id()
        worker_ctx.context_data["correlation_id"] = cid
        correlation_id.set(cid)

    def get_dependency(self, worker_ctx):
        return worker_ctx.context_data


class ServiceBase:
    """Base for the five services: subclass, set ``name`` and declare ``db = Database(...)``."""

    name = "base"
    context = RequestContext()
    metrics = Metrics()
    principal = CurrentPrincipal()

    @rpc
    def ping(self):
        return {"service": self.name, "ok": True}
