"""The TUI next to a writer: no lock errors, and new rows show up (timer or r)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from memtool.store import Store
from memtool.tui import create_app
from memtool.tui.widgets import VirtualTable
from tests.tui.conftest import SIZE, settle

WRITER = textwrap.dedent("""
    import sys
    from memtool.store import Store

    store = Store(sys.argv[1])
    for line in sys.stdin:  # one run per line read; "written" once it is committed
        run_id = line.strip()
        store.start_run(run_id, kind="sweep", command="live writer", config={}, config_hash="h",
                        memtool_version="0", versions={}, device="cpu", host="test")
        store.finish_run(run_id, "completed")
        print("written", flush=True)
""")


def _add_run(path, run_id: str) -> None:
    Store(path).start_run(
        run_id,
        kind="sweep",
        command="test",
        config={},
        config_hash="h",
        memtool_version="0",
        versions={},
        device="cpu",
        host="test",
    )


async def test_refresh_key_shows_rows_written_meanwhile(store_copy):
    app = create_app(store_copy, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = app.screen.query_one("#runs", VirtualTable)
        assert runs.row_count == 2
        # A read-write connection in this very process fails if the app still holds a
        # read-only one to the same file, so this also proves it closes after each read.
        _add_run(store_copy, "zz-new")
        await pilot.press("2", "1")  # coming back re-checks the store as well
        await settle(pilot)
        assert runs.row_count == 3
        _add_run(store_copy, "zz-newer")
        await pilot.press("r")
        await settle(pilot)
        assert runs.row_count == 4
        assert "4 runs, 2 running" in str(app.screen.query_one("#summary").render())


async def test_overview_follows_a_writer_in_another_process(store_copy):
    """Each refresh tick shows what another process committed before it, and nothing else.

    The writer and the tick take turns (the writer commits a run and says so, then the
    test fires the screen's own auto-refresh timer callback), so no step depends on how
    fast either side is. The period is an hour so that the timer never fires by itself.
    """
    app = create_app(store_copy, auto_refresh=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        runs = screen.query_one("#runs", VirtualTable)
        (timer,) = [t for t in screen._timers if t.name == "auto-refresh"]
        assert timer._interval == 3600 and runs.row_count == 2
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store_copy)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for i in range(1, 4):
                writer.stdin.write(f"live{i:03d}\n")
                writer.stdin.flush()
                assert writer.stdout.readline().strip() == "written", writer.stderr.read()
                await pilot.pause()
                assert runs.row_count == 1 + i  # not shown before the tick
                timer._callback()
                await settle(pilot)
                assert runs.row_count == 2 + i
                assert screen.load_error is None
        finally:
            writer.stdin.close()
            assert writer.wait(timeout=60) == 0, writer.stderr.read()
