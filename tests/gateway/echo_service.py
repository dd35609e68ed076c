"""A tiny real Nameko service for the gateway's RPC client tests.

Run it with ``nameko run tests.gateway.echo_service --broker amqp://...``. It reports back
what it received (kwargs and the Nameko context data carried in the ``nameko.*`` headers),
sleeps on request and raises a typed ``crmkit.errors.Conflict``.
"""
import time

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from crmkit.errors import Conflict


class ContextData(DependencyProvider):
    """The worker's context data: correlation_id, principal, call_id_stack, ..."""

    def get_dependency(self, worker_ctx):
        data = dict(worker_ctx.data)
        data["call_id_stack"] = worker_ctx.call_id_stack
        return data


class EchoService:
    name = "echo"

    context = ContextData()

    @rpc
    def echo(self, **kwargs):
        return {"kwargs": kwargs, "context": self.context}

    @rpc
    def slow(self, seconds=1.0):
        time.sleep(seconds)  # green under `nameko run` (eventlet monkey-patches time)
        return {"slept": seconds}

    @rpc
    def fail(self):
        raise Conflict("x", "y", {"a": 1})

    @rpc
    def ping(self):
        return {"service": self.name, "ok": True}
