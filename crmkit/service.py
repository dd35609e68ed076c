"""What every service class shares: context, metrics, the principal and ``ping``."""
from __future__ import annotations

import logging

import amqp.exceptions
import kombu.exceptions
from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider
from nameko.messaging import QueueConsumer
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange

from crmkit.errors import DomainError
from crmkit.ids import new_id
from crmkit.logging import correlation_id
from crmkit.metrics import Metrics
from crmkit.principal import CurrentPrincipal

log = logging.getLogger(__name__)

_BROKER_GONE = (kombu.exceptions.OperationalError, amqp.exceptions.ConnectionError,
                amqp.exceptions.RecoverableConnectionError, OSError)


class _ReplyPublisher(Publisher):
    # A reply is not confirmed by the broker: a lost reply ends in the caller's timeout
    # either way, and waiting for the confirm cost a round trip and a read per RPC.
    use_confirms = False


class _Responder(Responder):
    publisher_cls = _ReplyPublisher


#: worker slots RPC requests can never take: event handlers and timers always find one,
#: so a flood of requests (dashboards, say) cannot starve the events a service applies
RESERVED_WORKERS = 2


class _RpcQueueConsumer(QueueConsumer):
    """The RPC queue's consumer: prefetch of ``max_workers - RESERVED_WORKERS`` (Nameko's
    is ``max_workers``, so requests alone could fill the worker pool and every event or timer
    would wait for one of them to finish)."""

    @property
    def prefetch_count(self):
        return max(1, self.container.max_workers - RESERVED_WORKERS)


class _RpcConsumer(RpcConsumer):
    """Nameko's RPC consumer (shared by a container's RPC entrypoints), replying without
    publisher confirms."""

    queue_consumer = _RpcQueueConsumer()

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = _Responder(
            config["AMQP_URI"], get_rpc_exchange(config), config.get("serializer", "json"),
            message, ssl=config.get("AMQP_SSL"), login_method=config.get("LOGIN_METHOD"))
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class _Rpc(Rpc):
    """Nameko's RPC entrypoint, except that a reply the broker cannot take (its connection
    is gone: a broker restart) is logged and dropped instead of crashing the service, and
    that replies are sent without publisher confirms (``_RpcConsumer``).

    Nameko lets the publish error escape ``handle_result``, which kills the container and
    so the process. The caller lost its connection too and has answered 503 already; the
    request was not acked, so the broker may deliver it again once it is back.
    """

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except _BROKER_GONE as exc:
            log.warning("RPC reply not sent: broker connection lost",
                        extra={"method": self.method_name, "error": repr(exc)[:200]})
            return result, exc_info

    rpc_consumer = _RpcConsumer()


def rpc(fn=None, **kwargs):
    """Nameko's ``@rpc`` whose domain errors are expected answers (a warning, no traceback)."""
    kwargs.setdefault("expected_exceptions", DomainError)
    decorator = _Rpc.decorator(**kwargs)
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
