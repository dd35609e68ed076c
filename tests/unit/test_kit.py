import json
import time
from datetime import UTC, datetime

import pytest

from crmkit import timeutil
from crmkit.errors import Conflict, NotFound, ValidationFailed, from_remote
from crmkit.events import envelope
from crmkit.ids import new_id
from crmkit.pagination import decode_cursor, encode_cursor
from crmkit.principal import Principal


def test_ids_are_time_ordered_and_unique():
    ids = []
    for _ in range(200):
        ids.append(new_id())
        if len(ids) % 50 == 0:
            time.sleep(0.002)
    assert len(set(ids)) == 200
    assert all(len(i) == 32 for i in ids)
    batches = [ids[i:i + 50] for i in range(0, 200, 50)]
    assert all(max(a) < min(b) for a, b in zip(batches, batches[1:], strict=False))


def test_envelope_has_the_spec_fields():
    with timeutil.freeze(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)):
        env = envelope("lead.claimed", {"lead_id": "x"}, source="leads", actor_id="u1",
                       correlation_id="c1")
    assert set(env) == {"id", "type", "version", "occurred_at", "source", "actor_id",
                        "correlation_id", "data"}
    assert env["occurred_at"] == "2026-01-02T03:04:05+00:00"
    assert env["version"] == 1 and env["source"] == "leads"


@pytest.mark.parametrize("cls, status", [(NotFound, 404), (Conflict, 409),
                                         (ValidationFailed, 422)])
def test_remote_errors_round_trip(cls, status):
    original = cls("some_code", "message", {"k": 1, "none": None, "list": [1, "二"]})
    wire = {"exc_path": f"{cls.__module__}.{cls.__name__}", "exc_type": cls.__name__,
            "exc_args": list(original.args), "value": str(original)}
    from nameko.exceptions import serialize

    assert serialize(original)["exc_args"] == wire["exc_args"]
    rebuilt = from_remote(json.loads(json.dumps(serialize(original))))
    assert type(rebuilt) is cls and rebuilt.status == status
    assert rebuilt.to_body() == {"error": {"code": "some_code", "message": "message",
                                           "details": {"k": 1, "none": None,
                                                       "list": [1, "二"]}}}


def test_unknown_remote_error_is_internal_and_leaks_nothing():
    err = from_remote({"exc_path": "builtins.KeyError", "exc_args": ["secret"]})
    assert err.status == 500 and err.code == "internal_error"
    assert "secret" not in json.dumps(err.to_body())


def test_cursor_round_trip_and_garbage():
    assert decode_cursor(encode_cursor("01ab")) == "01ab"
    assert decode_cursor(None) is None
    with pytest.raises(ValidationFailed):
        decode_cursor("%%%not-a-cursor")


def test_principal_scope():
    p = Principal.from_json(json.dumps({"user_id": "u1", "role": "sales", "data_scope": "own",
                                        "visible_user_ids": ["u1"]}))
    assert p.can_see_owner("u1") and not p.can_see_owner("u2") and not p.can_see_owner(None)
    everyone = Principal.from_json({"user_id": "a", "role": "admin", "visible_user_ids": None})
    assert everyone.can_see_owner("u2") and everyone.sees_all


def test_business_day_is_shanghai():
    # 2026-11-24 17:30 UTC is already 25 November in Shanghai
    assert str(timeutil.business_day(datetime(2026, 11, 24, 17, 30, tzinfo=UTC))) == "2026-11-25"


def test_read_sections_fail_one_by_one():
    from contextlib import contextmanager

    from crmkit.errors import Forbidden
    from crmkit.sections import read_sections

    class Db:
        units = 0

        @contextmanager
        def unit(self):
            Db.units += 1
            yield f"uow{Db.units}"

    def forbidden(uow):
        raise Forbidden("forbidden", "not yours")

    def broken(uow):
        raise RuntimeError("boom")

    readers = {"a": lambda uow: {"uow": uow}, "b": forbidden, "c": broken}
    out = read_sections(Db(), readers, ["a", "b", "c"])
    assert out["a"] == {"available": True, "data": {"uow": "uow1"}}
    assert out["b"] == {"available": False, "error": {"code": "forbidden",
                                                      "message": "not yours"}}
    assert out["c"] == {"available": False, "error": {"code": "internal_error",
                                                      "message": "RuntimeError"}}
    assert Db.units == 3                                   # each section its own unit of work
    assert list(read_sections(Db(), readers, None)) == ["a", "b", "c"]
    with pytest.raises(ValidationFailed):
        read_sections(Db(), readers, ["a", "nope"])


class _ResetChannel:
    """A kombu channel whose socket the broker has just reset (what a RabbitMQ restart does
    to a consumer between its handler's end and the ack)."""
    connection = object()
    no_ack_consumers = None

    def basic_ack(self, *args, **kwargs):
        raise ConnectionResetError(104, "Connection reset by peer")

    basic_reject = basic_ack


def test_an_ack_lost_with_the_connection_does_not_crash_the_consumer():
    from kombu.message import Message

    from crmkit.events import _ParkingQueueConsumer
    consumer = _ParkingQueueConsumer.__new__(_ParkingQueueConsumer)   # no broker needed
    for act in (consumer.ack_message, consumer.requeue_message):
        message = Message(body=b"{}", channel=_ResetChannel(), delivery_tag=1)
        act(message)                                  # logged, not raised
    with pytest.raises(ConnectionResetError):         # what Nameko's own ack lets through
        Message(body=b"{}", channel=_ResetChannel(), delivery_tag=2).ack()


@pytest.mark.parametrize("value", ["", None, "1000,10,10", " 5, 6 ,7"])
def test_gc_threshold_setting(value):
    from crmkit import heap

    expected = heap.DEFAULT_THRESHOLD if not value else tuple(
        int(p) for p in value.split(","))
    assert heap.thresholds(value) == expected


@pytest.mark.parametrize("value", ["1000", "a,b,c", "0,10,10", "1,2,3,4", "-5,1,1"])
def test_a_bad_gc_threshold_is_refused(value):
    from crmkit import heap

    with pytest.raises(ValueError, match="GC_THRESHOLD"):
        heap.thresholds(value)


def test_settling_the_heap_freezes_start_up_and_raises_the_thresholds(monkeypatch):
    import gc

    from crmkit import heap

    before = gc.get_threshold()
    monkeypatch.setenv("GC_THRESHOLD", "12345,20,30")
    try:
        heap.settle()
        assert gc.get_threshold() == (12345, 20, 30)
        assert gc.get_freeze_count() > 1000          # the imported modules, at least
        garbage = [[]]
        garbage[0].append(garbage)                   # a cycle made after start-up ...
        del garbage
        assert gc.collect() >= 1                     # ... is still collected
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class _Wire:
    def __init__(self):
        self.writes: list[bytes] = []

    def write(self, data):
        self.writes.append(bytes(data))


def _ack_frame(write_frame, tag: int) -> None:
    import amqp

    write_frame(1, 1, (60, 80), amqp.serialization.dumps("Lb", (tag, False)), None)


def _alone(tag: int) -> bytes:
    """The bytes of one basic.ack frame, as an uncorked connection writes it."""
    from types import SimpleNamespace

    from crmkit.corked import frame_writer

    wire = _Wire()
    _ack_frame(frame_writer(SimpleNamespace(frame_max=131072, bytes_sent=0), wire), tag)
    return wire.writes[0]


def test_a_corked_connection_sends_its_frames_in_one_write():
    from types import SimpleNamespace

    from crmkit.corked import corked, frame_writer

    wire = _Wire()
    connection = SimpleNamespace(frame_max=131072, bytes_sent=0)
    write_frame = frame_writer(connection, wire)
    _ack_frame(write_frame, 1)
    assert wire.writes == [_alone(1)]                 # uncorked: a write per frame
    with corked(connection):
        with corked(connection):                      # nested: the outer block flushes
            _ack_frame(write_frame, 2)
        _ack_frame(write_frame, 3)
        assert len(wire.writes) == 1
    assert wire.writes[1] == _alone(2) + _alone(3)    # copied, not the reused buffer
    with pytest.raises(RuntimeError), corked(connection):
        _ack_frame(write_frame, 4)
        raise RuntimeError("a publish failed")
    assert wire.writes[2:] == [_alone(4)]             # what was made still goes out whole
    with corked(SimpleNamespace()):                   # a connection made without the cork
        pass


def test_a_service_gives_way_by_its_nice_setting(monkeypatch):
    from crmkit.config import ServiceSettings

    for name in ("ANALYTICS_NICE", "LEADS_NICE"):
        monkeypatch.delenv(name, raising=False)
    assert ServiceSettings.from_env("analytics").nice == 5     # background work yields
    assert ServiceSettings.from_env("leads").nice == 0
    monkeypatch.setenv("ANALYTICS_NICE", "0")
    assert ServiceSettings.from_env("analytics").nice == 0
    monkeypatch.setenv("LEADS_NICE", "3")
    assert ServiceSettings.from_env("leads").nice == 3
    for bad in ("-1", "20", "high"):
        monkeypatch.setenv("LEADS_NICE", bad)
        with pytest.raises(ValueError, match="LEADS_NICE must be a whole number from 0 to 19"):
            ServiceSettings.from_env("leads")


def test_relayed_events_are_kept_by_the_retention_setting(monkeypatch):
    from crmkit.config import ServiceSettings

    monkeypatch.delenv("OUTBOX_RETAIN_DAYS", raising=False)
    assert ServiceSettings.from_env("leads").outbox_retain_days == 7
    monkeypatch.setenv("OUTBOX_RETAIN_DAYS", "30")
    assert ServiceSettings.from_env("sales").outbox_retain_days == 30
    for bad in ("0", "-3", "1.5", "week"):
        monkeypatch.setenv("OUTBOX_RETAIN_DAYS", bad)
        with pytest.raises(ValueError, match="OUTBOX_RETAIN_DAYS must be a whole number"):
            ServiceSettings.from_env("leads")
