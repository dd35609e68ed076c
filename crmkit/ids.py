"""Time-ordered string ids (UUIDv7 layout, 32 hex characters).

Ids sort by creation time, so keyset pagination can page on the id alone and
replicas never need to coordinate to create one.
"""
import os
import time


def new_id() -> str:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)          # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)          # RFC 4122 variant
    return f"{value:032x}"
