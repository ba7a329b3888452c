"""Stable 64-bit hashes (xxh3, specified and platform-independent) for ids, phrasing choice and shuffle keys."""

import xxhash

SEPARATOR = "\x1f"


def hash64(*parts: object) -> int:
    """One 64-bit key from text parts; the same on every machine, Python version and run."""
    return xxhash.xxh3_64_intdigest(SEPARATOR.join(map(str, parts)).encode("utf-8"))


def record_id(kind: str, content: str) -> str:
    """A record's id from its content, so ids do not change with file order or batching."""
    return f"{kind}-{xxhash.xxh3_64_hexdigest(content.encode('utf-8'))}"
