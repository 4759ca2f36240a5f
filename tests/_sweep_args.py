"""Command-line options the tests' tiny sweeps share."""

from __future__ import annotations


def tiny_sweep_options(*, n_boot: int, batch_size: int) -> list[str]:
    """24 seeded demo images in 3 folds, ``n_boot`` bootstrap resamples, ``batch_size``."""
    return ["--limit", "24", "--folds", "3", "--n-boot", str(n_boot), "--batch-size", str(batch_size)]
