"""The study_progress table: which item of which stage is done, running, failed or left."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone

from memtool.store import Store

STAGES = ("sweep", "finetune", "penultimate", "baselines", "report")
STAGE_TITLES = {
    "sweep": "1 sweep every layer (memorability + brain)",
    "finetune": "2 fine-tune every model",
    "penultimate": "3 score penultimate layers (pretrained + fine-tuned)",
    "baselines": "4 evaluate baselines on the same test images",
    "report": "5 analysis + report",
}
COLUMNS = (
    "study",
    "stage",
    "item",
    "digest",
    "status",
    "error",
    "detail",
    "host",
    "pid",
    "seconds",
    "started_at",
    "updated_at",
)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StudyRecords:
    def __init__(self, store: Store, study: str):
        self.store = store
        self.study = study

    def rows(self) -> dict[tuple[str, str], dict]:
        """(stage, item) -> row, with a 'running' row of a dead process read as 'interrupted'."""
        try:
            cols, rows = self.store.query(
                f"SELECT {', '.join(COLUMNS)} FROM study_progress WHERE study = ?", [self.study]
            )
        except Exception:  # a store that has never seen a study (no table yet)
            return {}
        out = {}
        host = socket.gethostname()
        for r in rows:
            row = dict(zip(cols, r))
            if isinstance(row.get("detail"), str):
                row["detail"] = json.loads(row["detail"])
            if row["status"] == "running" and row["host"] == host and not _alive(row["pid"]):
                row["status"] = "interrupted"
            out[(row["stage"], row["item"])] = row
        return out

    def done(self, stage: str, item: str, digest: str) -> dict | None:
        row = self.rows().get((stage, item))
        if row and row["status"] == "completed" and row["digest"] == digest:
            return row
        return None

    def mark(
        self,
        stage: str,
        item: str,
        digest: str,
        status: str,
        *,
        error: str | None = None,
        detail: dict | None = None,
        seconds: float | None = None,
    ) -> None:
        now = _now()
        with self.store.writer() as con:
            old = con.execute(
                "SELECT started_at FROM study_progress WHERE study = ? AND stage = ? AND item = ?",
                [self.study, stage, item],
            ).fetchone()
            started = now if status == "running" or not old else old[0]
            con.execute(
                f"INSERT OR REPLACE INTO study_progress ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})",
                [
                    self.study,
                    stage,
                    item,
                    digest,
                    status,
                    error,
                    json.dumps(detail) if detail is not None else None,
                    socket.gethostname(),
                    os.getpid(),
                    seconds,
                    started,
                    now,
                ],
            )
