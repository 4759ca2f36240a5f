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
    import sys, time
    from memtool.store import Store

    store = Store(sys.argv[1])
    for i in range(int(sys.argv[2])):
        run_id = f"live{i:03d}"
        store.start_run(run_id, kind="sweep", command="live writer", config={}, config_hash="h",
                        memtool_version="0", versions={}, device="cpu", host="test")
        store.finish_run(run_id, "completed")
        time.sleep(0.15)
""")


def _add_run(path, run_id: str) -> None:
    Store(path).start_run(run_id, kind="sweep", command="test", config={}, config_hash="h",
                          memtool_version="0", versions={}, device="cpu", host="test")


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
    n_new = 15
    app = create_app(store_copy, auto_refresh=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = app.screen.query_one("#runs", VirtualTable)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store_copy), str(n_new)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = {runs.row_count}
        for _ in range(600):
            await pilot.pause(0.1)
            seen.add(runs.row_count)
            if writer.poll() is not None and runs.row_count == 2 + n_new:
                break
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        assert runs.row_count == 2 + n_new
        assert len(seen) >= 3, f"no intermediate refresh seen: {sorted(seen)}"
        assert app.screen.load_error is None
