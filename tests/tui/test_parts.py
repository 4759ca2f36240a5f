"""The TUI's plain parts: reading the store, the query history, the virtual table."""

from __future__ import annotations

import math

from textual.app import App

from memtool.store import Store, read
from memtool.tui.data import StoreReader, match_models
from memtool.tui.history import MARKER, QueryHistory, default_history_path, parse_history
from memtool.tui.widgets import VirtualTable, format_value
from tests.tui.conftest import settle


def test_points_pair_memorability_and_brain_like_the_wide_view(fixture_db):
    reader = StoreReader(fixture_db)
    with reader.session() as s:
        targets = read.brain_targets(s)
        assert [t.label for t in targets] == ["V1", "V2", "V4", "IT"]
        it = targets[-1]
        points = read.points(s, it, read.setups(s)[0])
    rows = Store(fixture_db).query(
        "SELECT model, layer, relative_depth, memorability, IT FROM layer_scores_wide"
        " WHERE alias_of IS NULL ORDER BY model, relative_depth, layer"
    )[1]
    assert points.rows() == [tuple(r) for r in rows]


def test_fingerprint_changes_when_a_writer_adds_scores(store_copy):
    reader = StoreReader(store_copy)
    with reader.session() as s:
        before = read.fingerprint(s)
    with reader.session() as s:
        assert read.fingerprint(s) == before
    Store(store_copy).insert_scores(
        [
            {
                "run_id": "r",
                "model_id": "timm:resnet18@wresn",
                "layer_name": "block0.layer0",
                "dataset_id": "ds0000000001",
                "setup_id": "other",
                "target": "memorability",
                "fold": "pooled",
                "metric": "spearman",
                "score": 0.1,
                "reducer": "pool",
            }
        ]
    )
    with reader.session() as s:
        assert read.fingerprint(s) != before


def test_several_targets_of_one_region_are_told_apart(store_copy):
    Store(store_copy).insert_scores(
        [
            {
                "run_id": "r",
                "model_id": "timm:resnet18@wresn",
                "layer_name": "block0.layer0",
                "dataset_id": "kiani-it",
                "setup_id": "s2",
                "target": "IT",
                "fold": "pooled",
                "metric": "rdm",
                "score": 0.3,
                "reducer": "pool",
            }
        ]
    )
    with StoreReader(store_copy).session() as s:
        labels = [t.label for t in read.brain_targets(s)]
        assert labels[:3] == ["V1", "V2", "V4"]
        assert sorted(labels[3:]) == ["IT · demo", "IT · kiani-it"]
        kiani = next(t for t in read.brain_targets(s) if t.target_id == "kiani-it")
        assert read.points(s, kiani).height == 1


def test_match_models_by_glob_or_substring():
    names = ["timm:resnet18", "timm:resnet50", "torchvision:alexnet"]
    assert match_models(names, "", substring=True) == names
    assert match_models(names, "resnet", substring=True) == names[:2]
    assert match_models(names, "timm:*50", substring=True) == ["timm:resnet50"]
    assert match_models(names, "*NET18", substring=True) == ["timm:resnet18"]
    assert match_models(names, "res*", substring=True) == names[:2]  # without the source prefix
    assert match_models(names, "vgg", substring=True) == []
    # the report's and analyze's --model: globs, the name with or without its prefix
    assert match_models(names, "resnet") == []
    assert match_models(names, ["alexnet", "*50"]) == ["timm:resnet50", "torchvision:alexnet"]
    assert match_models(names + names[:1], None) == names


def test_history_file_round_trip_and_limits(tmp_path, monkeypatch):
    path = tmp_path / "h" / "history.sql"
    history = QueryHistory(path, max_entries=3)
    for sql in ["SELECT 1", "SELECT 1", "-- two lines\nSELECT 2;", "SELECT 3", "SELECT 4"]:
        assert history.add(sql) is None
    assert history.entries == ["-- two lines\nSELECT 2;", "SELECT 3", "SELECT 4"]
    assert parse_history(path.read_text()) == history.entries
    assert path.read_text().startswith(MARKER)
    assert QueryHistory(path).latest() == "SELECT 4"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_history_path() == tmp_path / "xdg" / "memtool" / "history.sql"
    monkeypatch.setenv("MEMTOOL_HISTORY", str(tmp_path / "mine.sql"))
    assert default_history_path() == tmp_path / "mine.sql"


def test_history_that_cannot_be_written_does_not_raise(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    history = QueryHistory(blocker / "history.sql")  # parent is a file
    assert isinstance(history.add("SELECT 1"), OSError)
    assert history.latest() == "SELECT 1"  # still usable in this session


def test_format_value():
    assert format_value(None) == ""
    assert format_value(0.123456) == "0.123"
    assert format_value(1234567.0) == "1.23e+06"
    assert format_value(math.nan) == "nan"
    assert format_value(True) == "true"
    assert format_value("a\nb") == "a ⏎ b"


class TableApp(App):
    def compose(self):
        yield VirtualTable(id="t", row_key=lambda r: r[0])


async def test_virtual_table_sorts_nulls_last_and_keeps_the_cursor_row():
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(VirtualTable)
        rows = [(f"r{i}", None if i % 4 == 0 else float(i % 7), "x" * i) for i in range(2000)]
        table.set_data(["name", "value", "text"], rows)
        table.focus()
        await pilot.press("pagedown")
        keep = table.current_row
        table.sort_by("value")
        values = [r[1] for r in table.rows]
        n_null = sum(v is None for v in values)
        assert values[-n_null:] == [None] * n_null and values[:-n_null] == sorted(values[:-n_null])
        assert table.current_row == keep  # the highlighted row stays highlighted
        table.sort_by("value")
        values = [r[1] for r in table.rows]
        assert values[:-n_null] == sorted(values[:-n_null], reverse=True)
        assert values[-1] is None
        table.set_data(["name", "value", "text"], rows[:5])  # refresh keeps the sort
        assert [r[1] for r in table.rows] == [3.0, 2.0, 1.0, None, None]
        # long text is cut to the column cap with an ellipsis
        assert max(len(c) for c in table.visible_text()[0]) <= 42
        await pilot.press("end")
        assert table.cursor_row == 4
        await pilot.click(VirtualTable, offset=(2, 0))  # a click on the "name" header sorts
        assert table.sort_column == "name" and not table.sort_descending
        assert [r[0] for r in table.rows] == ["r0", "r1", "r2", "r3", "r4"]
        await pilot.click(VirtualTable, offset=(2, 3))  # a click on a row moves the cursor
        assert table.current_row[0] == "r2"
        await settle(pilot)
