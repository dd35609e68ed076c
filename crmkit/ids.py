"""Time-ordered string ids (UUIDv7 layout, 32 hex characters).

Ids sort by creation time, so keyset pagination can page on the id alone and
replicas never need to coordinate to create one.
"""
import os
import time


def _id(ms: int, rand: bytes) -> str:
    value = (ms & ((1 << 48) - 1)) << 80 | int.from_bytes(rand, "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)          # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)          # RFC 4122 variant
    return f"{value:032x}"


def new_id() -> str:
    return _id(time.time_ns() // 1_000_000, os.urandom(10))


def new_ids(count: int) -> list[str]:
    """``count`` ids of this millisecond, each as random as ``new_id``'s, from one read of
    the system's random source (a bulk insert needs thousands)."""
    ms = time.time_ns() // 1_000_000
    rand = os.urandom(10 * count)
    return [_id(ms, rand[i:i + 10]) for i in range(0, 10 * count, 10)]
