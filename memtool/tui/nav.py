"""The screen bar at the top of every screen, and the screens it lists with their keys."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Label

SCREENS = (
    ("1", "Overview", "overview"),
    ("2", "Layers", "layers"),
    ("3", "Correlation", "correlation"),
    ("4", "SQL", "sql"),
    ("5", "Fine-tune", "finetune"),
)
"""(key, title, mode) of each screen, in the bar's order."""


def screen_bindings() -> list[Binding]:
    """The app's keys that switch to each screen."""
    return [Binding(key, f"switch_mode('{mode}')", title, show=False) for key, title, mode in SCREENS]


class NavTab(Label):
    """One entry of the screen bar; a click switches to its screen."""

    def __init__(self, key: str, title: str, mode: str, active: bool):
        super().__init__(
            f" {key} {title} ", id=f"nav-{mode}", classes="nav-tab -active" if active else "nav-tab"
        )
        self.mode = mode

    def on_click(self) -> None:
        self.app.switch_mode(self.mode)


class NavBar(Horizontal):
    """The top line: the store's file name and the screens, numbered by their keys."""

    def __init__(self, active: str, db_name: str):
        super().__init__(id="nav")
        self.active = active
        self.db_name = db_name

    def compose(self):
        yield Label(Text.assemble(("memtool ", "bold"), (self.db_name, "italic")), id="nav-title")
        for key, title, mode in SCREENS:
            yield NavTab(key, title, mode, mode == self.active)
