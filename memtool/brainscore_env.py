"""brainscore-vision, imported lazily and quietly: the guards every brain module shares.

brainscore-vision is heavy to import and chatty (progress bars, warnings, plugin
requirements it would pip-install); memtool imports it only inside the functions that
need it, through ``import_brainscore()``, and wraps its calls in ``quiet()``.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings

from memtool.errors import UsageError


def brainscore_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("brainscore_vision")
    except metadata.PackageNotFoundError:
        return None


def import_brainscore():
    """Import brainscore_vision with settings fit for a library call (no pip, no noise)."""
    # Plugins may list requirements that brainscore would pip-install on load; never do
    # that in the middle of a sweep.
    os.environ.setdefault("BS_INSTALL_DEPENDENCIES", "no")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import brainscore_vision
    except ImportError:
        raise UsageError(
            "brain scoring needs brainscore-vision, which is not installed",
            hint="pip install brainscore-vision (a memtool dependency; reinstall memtool)",
        ) from None
    return brainscore_vision


@contextlib.contextmanager
def quiet():
    """Hide brainscore's progress bars and warnings (they write to stderr)."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield
