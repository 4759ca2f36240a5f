"""`memtool tui`: a Textual app to explore a results store, read-only.

Only this package and ``memtool.cli.tui_cmd`` import Textual; the rest of memtool must
stay importable without it (a test checks). ``create_app(db_path)`` builds the app and is
what the command and the tests use.
"""

from memtool.tui.app import MemtoolApp, create_app

__all__ = ["MemtoolApp", "create_app"]
