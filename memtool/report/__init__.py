"""``memtool report``: a results store turned into figures and one HTML page.

``build_report(db, out_dir)`` reads the store (``data``), draws each figure (``figures``)
as PNG and SVG under ``out_dir/figures/`` and writes ``out_dir/index.html`` (``html``).
The same store and selection give byte-identical files. Parts of the study the store does
not hold yet (brain scores, fine-tuning) are listed in ``ReportResult.missing`` and on the
page instead of failing the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from memtool.errors import UsageError

FIGURE_PREFIXES = (
    "memorability_vs_brain",
    "depth_profiles",
    "best_layers",
    "finetune_rho",
    "finetune_vs_similarity",
    "study_tracking",
    "study_relation",
    "study_baselines",
)


@dataclass
class ReportResult:
    out_dir: Path
    index: Path
    files: list[Path] = field(default_factory=list)  # every file written, sorted
    figures: list[str] = field(default_factory=list)  # figure stems, in page order
    missing: list[str] = field(default_factory=list)  # what the store could not show
    removed: list[Path] = field(default_factory=list)  # stale figures of an earlier report


def build_report(
    db: str | Path,
    out_dir: str | Path,
    *,
    runs: Sequence[str] | None = None,
    models: str | Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
) -> ReportResult:
    """Write ``index.html`` and the figures for the store at ``db`` into ``out_dir``.

    ``runs``: run ids or unique prefixes; ``models``: glob pattern(s) on model names
    (``resnet*``, ``timm:*``); ``targets``: brain targets to show (V1, V2, V4, IT, behavior).
    Raises UsageError for a selection that matches nothing, StoreError for a missing or
    foreign database.
    """
    from memtool import __version__
    from memtool.report import figures as F
    from memtool.report import figures_finetune as FF
    from memtool.report.data import load_report_data, slug, study_correlations
    from memtool.report.html import FigureRef, FinetuneSection, StudySection, render_index
    from memtool.store import Store

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", hint="pass a directory for the report")
    data = load_report_data(Store(db), runs=runs, models=models, targets=targets)
    fig_dir = out / "figures"
    written: list[Path] = []
    stems: list[str] = []

    def emit(fig, stem: str, title: str, caption: str) -> FigureRef:
        written.extend(F.save_figure(fig, fig_dir, stem))
        stems.append(stem)
        return FigureRef(stem, title, caption)

    sections = []
    for study in data.studies:
        suffix = f"--{study.slug}" if study.slug else ""
        correlations = study_correlations(study)
        refs = []
        if study.targets:
            refs.append(
                emit(
                    F.memorability_vs_brain(study, correlations),
                    f"memorability_vs_brain{suffix}",
                    "Memorability vs brain similarity across layers",
                    "Each point is one layer of one model (aliases of other layers left out), "
                    "coloured by relative depth. Titles give the Spearman correlation across "
                    "layers and the partial correlation controlling for relative depth.",
                )
            )
        refs.append(
            emit(
                F.depth_profiles(study),
                f"depth_profiles{suffix}",
                "Scores by relative depth, per model",
                "Memorability ρ (black, shaded 95% bootstrap CI) and each brain target's similarity "
                "for every scored layer; the star marks the best memorability layer.",
            )
        )
        refs.append(
            emit(
                F.best_layers(study),
                f"best_layers{suffix}",
                "Best layer per model",
                "Memorability ρ of each model's best layer with its 95% CI, sorted"
                + (
                    f"; the dashed line is the data set's human split-half ceiling ({study.ceiling:.3f})."
                    if study.ceiling is not None
                    else "; the data set has no human ceiling on record."
                ),
            )
        )
        sections.append(StudySection(study, correlations, refs))

    ft_section = None
    if data.finetune is not None:
        ft = data.finetune
        ft_section = FinetuneSection(ft)
        ft_section.figures.append(
            emit(
                FF.finetune_rho(ft),
                "finetune_rho",
                "Fine-tuned test ρ per model",
                "Test-set memorability ρ of each completed fine-tuning run with its bootstrap 95% "
                "CI, sorted; the dashed line is the data set's human split-half ceiling when known.",
            )
        )
        groups = sorted(set(ft.relations.select("dataset", "split").rows()))
        for dataset, split in groups:
            suffix = f"--{slug(dataset + '-' + split)}" if len(groups) > 1 else ""
            ft_section.figures.append(
                emit(
                    FF.finetune_vs_similarity(ft, dataset, split),
                    f"finetune_vs_similarity{suffix}",
                    f"Fine-tuned accuracy vs penultimate-layer similarity ({dataset}, {split})",
                    "Across models: test ρ after fine-tuning against the brain similarity of the "
                    "penultimate layer, after fine-tuning (filled) and with the pretrained weights "
                    "(open; a grey line joins the two), one panel per brain target "
                    "(finetune_penultimate_scores: the latest completed run per model).",
                )
            )

    from memtool.report.study import findings_html, load_findings

    findings = load_findings(Store(db))  # a study store: its three findings lead the page
    lead = findings_html(findings, emit) if findings is not None else None
    page = render_index(
        data, sections, ft_section, version=__version__, runs=runs, models=models, targets=targets, lead=lead
    )
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    written.append(index)
    removed = _remove_stale(fig_dir, set(written))
    return ReportResult(
        out_dir=out,
        index=index,
        files=sorted(written),
        figures=stems,
        missing=list(data.missing),
        removed=removed,
    )


def _remove_stale(fig_dir: Path, keep: set[Path]) -> list[Path]:
    """Delete figures an earlier report wrote that this one did not (only our own names)."""
    if not fig_dir.is_dir():
        return []
    removed = []
    for path in sorted(fig_dir.iterdir()):
        if (
            path.suffix in (".png", ".svg")
            and path.stem.split("--")[0] in FIGURE_PREFIXES
            and path not in keep
        ):
            path.unlink()
            removed.append(path)
    return removed


__all__ = ["ReportResult", "build_report"]
