"""What every screen shares: the screen bar, the footer, and loading data off the UI thread.

Every loading screen re-checks the store every ``refresh_seconds`` (the app's setting)
while it is shown, so rows that a sweep writes meanwhile appear by themselves.

A screen describes its data in ``fetch`` (runs in a worker thread with one read-only
session, i.e. one connection that is closed when the load ends) and shows it in ``show``
(runs on the UI thread). ``load`` skips ``fetch`` and ``show`` when the store's
fingerprint has not changed since the last load, so refresh timers and screen switches
cost one small query when nothing is new.
"""

from __future__ import annotations

from typing import Any

import duckdb
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from memtool.errors import MemtoolError
from memtool.store import read
from memtool.store.read import ReadSession
from memtool.tui.data import StoreReader
from memtool.tui.nav import NavBar


class MemtoolScreen(Screen):
    """Base class: subclasses set MODE and implement compose_body, fetch and show."""

    MODE = ""
    LOADS = True  # False for screens that read only on demand (the SQL console)
    BINDINGS = [Binding("r", "reload", "Refresh")]

    def __init__(self) -> None:
        super().__init__(id=f"screen-{self.MODE}")
        self._fingerprint: tuple | None = None
        self.load_error: str | None = None

    @property
    def reader(self) -> StoreReader:
        return self.app.reader  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE, self.reader.path.name)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def fetch(self, session: ReadSession) -> Any:
        """Read what the screen shows (worker thread)."""
        raise NotImplementedError

    def show(self, data: Any) -> None:
        """Display fetched data (UI thread)."""
        raise NotImplementedError

    def on_mount(self) -> None:
        # Textual calls this besides any subclass on_mount (handlers run along the MRO).
        if self.LOADS:
            self.load(force=True)
            interval = getattr(self.app, "refresh_seconds", None)
            if interval:
                self.set_interval(interval, self._tick, name="auto-refresh")

    def _tick(self) -> None:
        """Re-check the store while this screen is shown (cheap when nothing changed)."""
        if self.is_current:
            self.load(force=False)

    def on_screen_resume(self) -> None:
        if self.LOADS and self._fingerprint is not None:
            self.load(force=False)

    def action_reload(self) -> None:
        self.load(force=True)
        self.notify("reloaded from the store", timeout=1.5)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load(self, force: bool = False) -> None:
        """Re-read the store (worker thread); show the data if anything changed or forced."""
        try:
            with self.reader.session() as session:
                fingerprint = read.fingerprint(session)
                if not force and fingerprint == self._fingerprint:
                    return
                data = self.fetch(session)
        except MemtoolError as exc:
            self._report(exc.one_line())
            return
        except duckdb.Error as exc:
            self._report(f"reading the store failed: {' '.join(str(exc).split())}")
            return
        self._fingerprint = fingerprint
        self.load_error = None
        self.app.call_from_thread(self.show, data)

    def _report(self, message: str) -> None:
        self.load_error = message
        self.app.call_from_thread(self.notify, message, severity="error", timeout=8)
