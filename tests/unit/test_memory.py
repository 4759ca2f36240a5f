"""memtool.memory: freed activation buffers are reused instead of re-faulted every pass."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from memtool.memory import keep_freed_memory

_PASSES = """
import json, resource, sys, torch
if sys.argv[1] == "keep":
    from memtool.memory import keep_freed_memory
    assert keep_freed_memory()
torch.set_num_threads(1)
x = torch.randn(16, 64, 112, 112)  # 51 MiB activations, above glibc's default threshold
conv = torch.nn.Conv2d(64, 64, 3, padding=1)
with torch.no_grad():
    conv(x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        conv(x).relu_()
    print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before))
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PASSES, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings")
def test_kept_memory_cuts_page_faults_of_repeated_passes():
    assert keep_freed_memory() and keep_freed_memory()  # applies, and is idempotent
    default, kept = _faults("default"), _faults("keep")
    # by default every pass maps and zero-fills its ~51 MiB output again (> 60,000 faults)
    assert default > 60_000
    assert kept < default / 3
