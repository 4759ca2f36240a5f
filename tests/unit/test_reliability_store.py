"""Issue 10, defects 4, 5, 7 and 9 at the store: the sandbox, waiting writers, signals
that never cut a commit, dead runs' tasks, and what a bad --db file is called."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pytest

from memtool.errors import StoreError
from memtool.store import Store, connection

DATASET = {
    "dataset_id": "d",
    "name": "n",
    "kind": "csv",
    "spec": "csv:x",
    "n_images": 3,
    "n_splits": 1,
    "split_kind": "kfold",
}


def _hold_read_only(path: str, seconds: float, ready) -> None:
    con = duckdb.connect(path, read_only=True)
    ready.set()
    time.sleep(seconds)
    con.close()


def test_a_reader_held_open_does_not_kill_a_writer(tmp_path, monkeypatch):
    """The writer waits past the reader's timeout, says every interval who holds the
    file, and then writes: nothing fails and nothing is lost."""
    path = tmp_path / "a.duckdb"
    Store(path).migrate()
    monkeypatch.setattr(connection, "WAIT_MESSAGE_EVERY", 0.5)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_read_only, args=(str(path), 3.0, ready))
    holder.start()
    messages: list[str] = []
    try:
        assert ready.wait(60)
        with pytest.raises(StoreError, match="locked by process"):  # an explicit limit holds
            Store(path, lock_timeout=0.3).migrate()
        started = time.monotonic()
        store = Store(path, on_wait=messages.append)
        store.upsert_dataset(DATASET)
        waited = time.monotonic() - started
    finally:
        holder.join()
    assert waited > 1.0
    assert messages and all(f"process {holder.pid}" in m for m in messages)
    assert "holds it" in messages[0] and "nothing is lost" in messages[0]
    assert store.query("SELECT dataset_id FROM datasets")[1] == [("d",)]


@pytest.fixture
def two_stores(tmp_path):
    mine, other = tmp_path / "mine.duckdb", tmp_path / "other.duckdb"
    for path in (mine, other):
        store = Store(path)
        store.migrate()
        store.upsert_dataset(DATASET)
    return mine, other


SANDBOX_ESCAPES = [
    "ATTACH '{other}' AS w (READ_WRITE)",
    "ATTACH '{other}' AS w",
    "COPY datasets TO '{out}'",
    "EXPORT DATABASE '{outdir}'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "DELETE FROM datasets",
]


@pytest.mark.parametrize("sql", SANDBOX_ESCAPES)
def test_user_sql_cannot_leave_the_database(two_stores, tmp_path, sql):
    mine, other = two_stores
    text = sql.format(other=other, out=tmp_path / "out.csv", outdir=tmp_path / "exp")
    with pytest.raises(duckdb.Error):
        Store(mine).query_user_sql(text)
    from memtool.tui.data import StoreReader  # the TUI's console: the same sandbox

    with pytest.raises(duckdb.Error):
        StoreReader(mine).run_sql(text)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "exp").exists()
    assert Store(other).query("SELECT count(*) FROM datasets")[1] == [(1,)]
    assert Store(mine).query("SELECT count(*) FROM datasets")[1] == [(1,)]


def test_the_sandbox_still_answers_queries(two_stores):
    mine, _ = two_stores
    assert Store(mine).query_user_sql("SELECT dataset_id FROM datasets").rows() == [("d",)]
    from memtool.tui.data import StoreReader

    assert StoreReader(mine).run_sql("SHOW ALL TABLES").frame.height > 5


def test_a_signal_inside_a_commit_waits_for_its_end(tmp_path):
    from memtool.errors import Terminated
    from memtool.interrupts import critical, handle_signals

    store = Store(tmp_path / "s.duckdb")
    store.migrate()
    before = signal.getsignal(signal.SIGTERM)  # SIG_DFL, or whatever an earlier test (Ray) set
    with handle_signals():
        assert signal.getsignal(signal.SIGTERM) != before
        with pytest.raises(Terminated):
            with store.writer() as con:
                con.execute("BEGIN TRANSACTION")
                con.execute(
                    "INSERT INTO datasets (dataset_id, name, kind, spec, n_images, n_splits,"
                    " split_kind) VALUES ('x', 'n', 'csv', 's', 3, 1, 'kfold')"
                )
                os.kill(os.getpid(), signal.SIGTERM)  # delivered now, raised at the block's end
                time.sleep(0.05)
                con.execute("COMMIT")
        with pytest.raises(KeyboardInterrupt):
            with critical():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
    assert store.query("SELECT dataset_id FROM datasets")[1] == [("x",)]  # committed whole
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored


def test_tasks_of_a_killed_run_are_not_left_running(tmp_path):
    import socket

    store = Store(tmp_path / "a.duckdb")
    store.migrate()
    gone = mp.get_context("spawn").Process(target=time.sleep, args=(0,))
    gone.start()
    gone.join()
    store.start_run(
        "r1",
        kind="sweep",
        command="c",
        config={},
        config_hash="h",
        memtool_version="v",
        versions={},
        device="cpu",
        host=socket.gethostname(),
    )
    with store.writer() as con:
        con.execute("UPDATE runs SET pid = ? WHERE run_id = 'r1'", [gone.pid])
    store.upsert_task(
        {"run_id": "r1", "task_id": "t001", "model": "m", "engine": "local", "status": "completed"}
    )
    store.upsert_task(
        {"run_id": "r1", "task_id": "t002", "model": "m2", "engine": "local", "status": "running"}
    )
    assert store.close_dead_runs(socket.gethostname()) == ["r1"]
    assert store.query("SELECT task_id, status FROM sweep_tasks ORDER BY task_id")[1] == [
        ("t001", "completed"),
        ("t002", "interrupted"),
    ]


# -- what a bad --db is called ----------------------------------------------------------------


def test_a_folder_given_as_the_store_is_called_a_folder(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    for action in (lambda s: s.query("SELECT 1"), lambda s: s.migrate()):
        with pytest.raises(StoreError) as info:
            action(Store(folder))
        text = info.value.one_line()
        assert "is a directory" in text and "damaged" not in text


def test_an_empty_store_file_is_called_empty(tmp_path):
    empty = tmp_path / "empty.duckdb"
    empty.touch()
    for action in (lambda s: s.query("SELECT 1"), lambda s: s.migrate()):
        with pytest.raises(StoreError) as info:
            action(Store(empty))
        text = info.value.one_line()
        assert "empty file (0 bytes)" in text and "damaged" not in text


PERMISSION_PROBE = """
import sys
from memtool.errors import StoreError
from memtool.store import Store
import memtool.store.connection, duckdb, polars  # everything imported before giving up root
import os
if os.geteuid() == 0:
    os.setgid(65534); os.setuid(65534)
for action in ("query", "migrate"):
    try:
        store = Store(sys.argv[1])
        store.query("SELECT 1") if action == "query" else store.migrate()
        print("opened")
    except StoreError as exc:
        print(exc.one_line())
"""


def test_a_store_without_permission_is_called_that(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="memtool-perm-"))  # reachable by the unprivileged user
    try:
        os.chmod(folder, 0o755)
        path = folder / "s.duckdb"
        Store(path).migrate()
        os.chmod(path, 0)
        out = subprocess.run(
            [sys.executable, "-c", PERMISSION_PROBE, str(path)],
            text=True,
            capture_output=True,
            timeout=120,
            env={**os.environ},
            check=False,
        )
        lines = out.stdout.strip().splitlines()
        assert len(lines) == 2, out.stdout + out.stderr
        for line in lines:
            assert "permission denied" in line and "damaged" not in line
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
