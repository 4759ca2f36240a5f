"""The TUI's screens, one per file; the app switches between them as modes (keys 1-5)."""

from memtool.tui.screens.correlation import CorrelationScreen
from memtool.tui.screens.finetune import FinetuneScreen
from memtool.tui.screens.layers import LayersScreen
from memtool.tui.screens.overview import OverviewScreen
from memtool.tui.screens.sql import SqlScreen

__all__ = ["CorrelationScreen", "FinetuneScreen", "LayersScreen", "OverviewScreen", "SqlScreen"]
