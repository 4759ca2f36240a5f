"""A study item ends as the work it runs ends: completed, failed (a model's problem: the
study goes on; anything else: it stops) or interrupted, in study_progress on a real store."""

from __future__ import annotations

import pytest

from memtool.errors import DataError, ModelError, Terminated
from memtool.progress import NullReporter
from memtool.store import Store
from memtool.study.records import StudyRecords
from memtool.study.stages import Item, StudyRunResult, _each


def _rows(db) -> dict:
    return {
        item: (row["status"], row["error"]) for (_, item), row in StudyRecords(Store(db), "s").rows().items()
    }


def _run(tmp_path, work) -> StudyRunResult:
    store = Store(tmp_path / "s.duckdb")
    store.migrate()
    items = [Item("sweep", name, "d1", model=name) for name in ("a", "b")]
    result = StudyRunResult(db=store.path)
    _each(None, StudyRecords(store, "s"), items, result, NullReporter(), work)
    return result


def test_a_model_error_fails_that_item_and_the_next_one_runs(tmp_path):
    def work(item):
        if item.model == "a":
            raise ModelError("unknown model 'a'", hint="check the name")
        return {"ok": True}

    result = _run(tmp_path, work)
    assert _rows(tmp_path / "s.duckdb") == {
        "a": ("failed", "unknown model 'a' (check the name)"),
        "b": ("completed", None),
    }
    assert result.done == {"sweep": 1} and result.failures == ["sweep a: unknown model 'a' (check the name)"]


@pytest.mark.parametrize(
    "exc, expected",
    [
        (Terminated(), ("interrupted", "terminated by SIGTERM")),
        (KeyboardInterrupt(), ("interrupted", "interrupted by the user")),
        (DataError("bad scores"), ("failed", "bad scores")),
        (RuntimeError("boom"), ("failed", "RuntimeError: boom")),
    ],
)
def test_anything_else_marks_the_item_and_stops_the_study(tmp_path, exc, expected):
    def work(item):
        raise exc

    with pytest.raises(type(exc)):
        _run(tmp_path, work)
    assert _rows(tmp_path / "s.duckdb") == {"a": expected}  # "b" never started
