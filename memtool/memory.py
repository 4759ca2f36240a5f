"""Process memory settings for the sweep: keep freed activation buffers instead of
returning them to the kernel after every layer.

Why: on Linux, glibc's malloc serves large blocks (above a threshold that adapts up to
32 MiB by default) with fresh ``mmap`` pages and unmaps them on ``free``; freed memory at
the top of the heap is trimmed back as well. PyTorch's CPU allocator hands every
activation tensor to malloc, so each layer of each batch maps new pages and the kernel
zero-fills them on first touch: measured on EfficientNet-Lite0 (batch 32, 224 px), 1.7
million page faults and more system than user time for three forward passes; with the
settings below, none after the first pass. That was the ~40% system time of the demo.

``keep_freed_memory()`` raises the mmap threshold and the trim threshold (``mallopt``),
so large blocks come from the heap and are reused. The cost: the process keeps up to
about its peak working set mapped, which it reaches anyway during a pass. No-op where
glibc is not the allocator (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 512 << 20  # blocks up to 512 MiB from the heap
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed memory at the heap top

_done = False


def keep_freed_memory() -> bool:
    """Apply the settings once per process; True when they are in effect."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _done = ok
    return ok
