"""Handing memory back to the system: the pages of a mapped file once read, and large frees while duplicates
are resolved, so that a build's peak is its working set and not what it touched on the way."""

import ctypes
import mmap
import platform
from collections.abc import Iterator
from contextlib import contextmanager

RELEASE_PAGES = hasattr(mmap, "MADV_DONTNEED")  # Linux and macOS; elsewhere mapped pages stay until unmapped


def release_pages(mapped: mmap.mmap, start: int = 0, length: int | None = None) -> None:
    """Lets the system take back the pages of `mapped[start:start + length]` (all of it by default): they are
    read again from the file if touched."""
    if RELEASE_PAGES:
        mapped.madvise(mmap.MADV_DONTNEED, start, len(mapped) - start if length is None else length)


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
OWN_MAPPING, GLIBC_MAX_THRESHOLD = 1 << 20, 32 << 20


@contextmanager
def returning_large_frees() -> Iterator[None]:
    """Meanwhile, glibc maps each allocation of 1 MiB or more on its own, so that freeing it returns it to the
    system. By default glibc raises that threshold after each large free, up to 32 MiB, and serves the big
    temporaries of resolving duplicates from heaps that keep what is freed: 40–60 MB more at the peak of a 4x
    build. Not for the whole build: mapping every large array anew costs page faults (it was about 10 %
    slower). Other C libraries are left as they are."""
    mallopt = ctypes.CDLL(None).mallopt if platform.libc_ver()[0] == "glibc" else None
    if mallopt:
        mallopt(M_MMAP_THRESHOLD, OWN_MAPPING)
    try:
        yield
    finally:
        if mallopt:
            mallopt(M_MMAP_THRESHOLD, GLIBC_MAX_THRESHOLD)
