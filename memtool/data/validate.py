"""Refusing data that cannot give a meaningful memorability score.

A readout is scored by Spearman's rank correlation on each split's held-out images. That
number is undefined when the scores do not vary (every rho is NaN: a sweep that
"completes" with every score NULL) and says nothing on fewer than 3 images (on 1 image it
is undefined, on 2 it is +1 or -1 whatever the model). So a data set is refused, with one
line saying why, when:

- all its scores are equal;
- a split's test part has fewer than ``MIN_TEST_IMAGES`` (3) images, or all-equal scores;
- a split's training part has fewer than ``MIN_TRAIN_IMAGES`` (3) images or all-equal
  scores (nothing to fit), or its validation part (LaMem) breaks the test-part rule.

3 is the floor, not a recommendation: on a few images rho is legal but its bootstrap CI
is wide, and the CI is stored next to every score.
"""

from __future__ import annotations

import numpy as np

from memtool.data.base import MemorabilityDataset
from memtool.errors import DataError

MIN_TEST_IMAGES = 3
MIN_TRAIN_IMAGES = 3


def scoring_problems(dataset: MemorabilityDataset) -> list[str]:
    """What makes ``dataset`` unusable for scoring; empty when it is fine."""
    y = dataset.scores
    if y.size == 0:
        return ["it has no images"]
    if np.ptp(y) == 0:
        return [f"all {y.size} scores are equal ({y[0]:g}): a rank correlation with them is undefined"]
    problems = []
    for sp in dataset.splits:
        parts = [("test", sp.test, MIN_TEST_IMAGES), ("training", sp.train, MIN_TRAIN_IMAGES)]
        if sp.val is not None:
            parts.append(("validation", sp.val, MIN_TEST_IMAGES))
        for what, index, least in parts:
            values = y[index]
            if len(values) < least:
                problems.append(
                    f"{sp.name} has {len(values)} {what} image{'s' * (len(values) != 1)}, "
                    f"fewer than the {least} a rank correlation needs"
                )
            elif np.ptp(values) == 0:
                problems.append(f"{sp.name}'s {len(values)} {what} images all score {values[0]:g}")
    return problems


def require_scorable(dataset: MemorabilityDataset) -> None:
    """Raise one DataError naming the first problem (and how many there are) or return."""
    problems = scoring_problems(dataset)
    if not problems:
        return
    more = f" (and {len(problems) - 1} more problem{'s' * (len(problems) > 2)})" if len(problems) > 1 else ""
    if dataset.split_kind == "kfold":
        hint = (
            f"use fewer folds (at most {max(2, len(dataset.items) // MIN_TEST_IMAGES)} "
            f"for {len(dataset.items)} images), more images, or scores that vary"
        )
    else:
        hint = "use more images (a larger --limit) or another split"
    if problems[0].startswith("all ") or problems[0] == "it has no images":
        hint = "check the score column: memorability scores must vary between images"
    raise DataError(f"data set {dataset.spec} cannot be scored: {problems[0]}{more}", hint=hint)
