"""Reading a report's index.html back: tables by id, cells with their exact values."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path


class Cell:
    def __init__(self, col: str | None, value: str | None):
        self.col = col
        self.value = value  # data-value (exact number) or None
        self.text = ""

    def number(self) -> float | None:
        return None if self.value is None else float(self.value)


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self.missing: list[str] = []
        self._table = None
        self._row = None
        self._cell = None
        self._in_missing = 0
        self._li = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = {"attrs": a, "headers": [], "rows": []}
            self.tables[a.get("id", f"table{len(self.tables)}")] = self._table
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": a, "cells": []}
        elif tag == "td" and self._row is not None:
            self._cell = Cell(a.get("data-col"), a.get("data-value"))
        elif tag == "th" and self._table is not None:
            self._cell = Cell(None, None)
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "a":
            self.links.append(a["href"])
        elif tag == "div" and a.get("id") == "missing":
            self._in_missing = 1
        elif tag == "li" and self._in_missing:
            self._li = ""

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row["cells"].append(self._cell)
            self._cell = None
        elif tag == "th" and self._cell is not None:
            self._table["headers"].append(self._cell.text)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row["cells"]:
                self._table["rows"].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "li" and self._li is not None:
            self.missing.append(self._li)
            self._li = None
        elif tag == "div" and self._in_missing:
            self._in_missing = 0

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.text += data
        if self._li is not None:
            self._li += data


class Page:
    def __init__(self, path: Path):
        self.source = path.read_text(encoding="utf-8")
        parser = _Parser()
        parser.feed(self.source)
        self.tables = parser.tables
        self.images = parser.images
        self.links = parser.links
        self.missing = parser.missing

    def rows(self, table_id: str) -> list[dict[str, Cell]]:
        """Rows of a table as {column: Cell}."""
        return [{c.col: c for c in row["cells"]} for row in self.tables[table_id]["rows"]]

    def table_ids(self, prefix: str) -> list[str]:
        return sorted(t for t in self.tables if t.startswith(prefix))
