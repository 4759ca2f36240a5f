"""How an exception ends a record: the one classification that runs, fine-tuning runs and
study items share (memtool.errors.ending / recording_failure)."""

from __future__ import annotations

import pytest

from memtool.errors import DataError, ModelError, Terminated, ending, recording_failure


@pytest.mark.parametrize(
    "exc, expected",
    [
        (KeyboardInterrupt(), ("interrupted", "interrupted by the user")),
        (Terminated(), ("interrupted", "terminated by SIGTERM")),
        (
            DataError("cannot read image x.jpg.", hint="replace the file"),
            ("failed", "cannot read image x.jpg (replace the file)"),
        ),
        (ModelError("unknown model 'nosuchnet'"), ("failed", "unknown model 'nosuchnet'")),
        (ValueError("bad value"), ("failed", "ValueError: bad value")),
    ],
)
def test_ending_names_status_and_error(exc, expected):
    assert ending(exc) == expected


@pytest.mark.parametrize(
    "exc", [KeyboardInterrupt(), Terminated(), DataError("no data"), RuntimeError("boom")]
)
def test_recording_failure_records_once_and_lets_the_exception_go_on(exc):
    seen = []
    with pytest.raises(type(exc)) as raised:
        with recording_failure(lambda status, error: seen.append((status, error))):
            raise exc
    assert raised.value is exc
    assert seen == [ending(exc)]


def test_recording_failure_records_nothing_when_the_block_ends_normally():
    seen = []
    with recording_failure(lambda status, error: seen.append((status, error))):
        value = 1 + 1
    assert value == 2 and seen == []
