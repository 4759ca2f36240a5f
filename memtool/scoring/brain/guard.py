"""Calling brainscore-vision from a sweep: quiet, offline-aware, failures as one line.

``memtool.brainscore_env`` imports brainscore-vision lazily and quietly (it is shared with
``memtool.extract``, so it stays outside this package). What only brain scoring needs is
here: where brainscore keeps its data, a download that cannot happen failing at once
with the cache to fill, and ``brainscore_call``, which wraps every call into
brainscore's benchmarks so that whatever goes wrong inside becomes one ``DataError``.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from memtool.brainscore_env import quiet
from memtool.errors import DataError, MemtoolError, first_line

STORAGE_HOST = "brainscore-storage.s3.amazonaws.com"


def brainio_cache() -> Path:
    """Where brainscore-vision keeps downloaded data (``BRAINIO_HOME``, default ~/.brainio)."""
    return Path(os.path.expanduser(os.environ.get("BRAINIO_HOME", "~/.brainio")))


@contextlib.contextmanager
def downloads_fail_fast(benchmark: str):
    """Turn a download that cannot happen into one clear error instead of minutes of retries.

    brainscore reads data from its cache and downloads what is missing from S3. Before
    a download starts we check that the storage host answers; if it does not, the
    user gets the benchmark, the cache folder that was checked and how to fill it.
    """
    from brainscore_core.supported_data_standards.brainio import fetch

    original = fetch.BotoFetcher.download_boto

    def guarded(self):
        try:
            socket.create_connection((STORAGE_HOST, 443), timeout=5).close()
        except OSError as exc:
            raise DataError(
                f"benchmark {benchmark} needs {os.path.basename(self.output_filename)}, which is not "
                f"in the Brain-Score cache {brainio_cache()} and Brain-Score's storage cannot be "
                f"reached ({type(exc).__name__}: {exc})",
                hint="run once with internet access to fill it, copy a filled cache there, "
                "or point BRAINIO_HOME at one",
            ) from None
        return original(self)

    fetch.BotoFetcher.download_boto = guarded
    try:
        yield
    finally:
        fetch.BotoFetcher.download_boto = original


@contextlib.contextmanager
def brainscore_call(benchmark: str, failure: str, hint: str):
    """Run brainscore code for ``benchmark`` quietly, with downloads failing fast.

    A MemtoolError raised inside passes unchanged; any other exception becomes
    ``DataError("<failure>: <type>: <first line>", hint)``.
    """
    try:
        with quiet(), downloads_fail_fast(benchmark):
            yield
    except MemtoolError:
        raise
    except Exception as exc:
        raise DataError(f"{failure}: {type(exc).__name__}: {first_line(exc)}", hint=hint) from None
