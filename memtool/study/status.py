"""`memtool study status`: done / running / failed / left per stage, from study_progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from memtool.store import Store
from memtool.study.config import Study
from memtool.study.records import STAGE_TITLES, STAGES, StudyRecords
from memtool.study.stages import stage_items


@dataclass
class StageStatus:
    stage: str
    title: str
    total: int
    done: int = 0
    running: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "item: error"
    interrupted: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # not started, or done with other options
    seconds: float = 0.0

    @property
    def state(self) -> str:
        if self.total and self.done == self.total:
            return "done"
        if self.running:
            return "running"
        if self.failed:
            return "failed"
        if self.done or self.interrupted:
            return "partly done"
        return "not started"


def study_status(study: Study, db: Path | None = None) -> list[StageStatus]:
    path = Path(db or study.store)
    rows = StudyRecords(Store(path), study.name).rows() if path.exists() else {}
    out = []
    for stage, items in stage_items(study).items():
        s = StageStatus(stage, STAGE_TITLES[stage], len(items))
        for it in items:
            row = rows.get((stage, it.item))
            if row is None:
                s.left.append(it.item)
                continue
            s.seconds += row.get("seconds") or 0.0
            status = row["status"]
            if status == "completed" and (row["digest"] == it.digest or stage == "report"):
                s.done += 1
            elif status == "completed":
                s.left.append(f"{it.item} (options changed since it ran)")
            elif status == "running":
                s.running.append(it.item)
            elif status == "interrupted":
                s.interrupted.append(it.item)
            else:
                s.failed.append(f"{it.item}: {row.get('error') or status}")
        out.append(s)
    assert [s.stage for s in out] == list(STAGES)
    return out
