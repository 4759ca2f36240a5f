"""The Textual app: five screens over one read-only StoreReader.

Screens are Textual modes, so each keeps its state (filter, cursor, query) while you look
at another. Keys 1-5 switch screens (also a click on the bar at the top), r re-reads the
store, q quits. Nothing here holds a database connection: every read opens and closes
its own, so a sweep writing to the same file is never blocked for long.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from memtool.tui.data import StoreReader
from memtool.tui.nav import screen_bindings
from memtool.tui.screens import CorrelationScreen, FinetuneScreen, LayersScreen, OverviewScreen, SqlScreen

AUTO_REFRESH_S = 5.0


class MemtoolApp(App):
    """Explore a memtool results store. Build it with ``create_app``."""

    CSS_PATH = "memtool.tcss"
    TITLE = "memtool"
    MODES = {
        "overview": OverviewScreen,
        "layers": LayersScreen,
        "correlation": CorrelationScreen,
        "sql": SqlScreen,
        "finetune": FinetuneScreen,
    }
    BINDINGS = [*screen_bindings(), Binding("q", "quit", "Quit")]

    def __init__(
        self,
        reader: StoreReader,
        *,
        auto_refresh: float | None = AUTO_REFRESH_S,
        history_path: Path | None = None,
    ):
        super().__init__()
        self.reader = reader
        self.refresh_seconds = auto_refresh
        self.history_path = history_path
        self.sub_title = reader.display_path

    def on_mount(self) -> None:
        self.switch_mode("overview")


def create_app(
    db_path: str | Path,
    *,
    auto_refresh: float | None = AUTO_REFRESH_S,
    history_path: Path | None = None,
    lock_timeout: float = 10.0,
) -> MemtoolApp:
    """Check that ``db_path`` is a memtool store and build the app for it.

    Raises StoreError (one line with a hint) for a missing file, a file that is not a
    DuckDB database, or a DuckDB file that memtool did not write, before anything starts.
    ``auto_refresh`` is the overview's refresh period in seconds (None turns it off);
    ``history_path`` overrides where the SQL console keeps its history.
    """
    reader = StoreReader(db_path, lock_timeout=lock_timeout)
    reader.validate()
    return MemtoolApp(reader, auto_refresh=auto_refresh, history_path=history_path)
