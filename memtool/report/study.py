"""The study report's lead: the three findings of Harada & Sakai, each a figure and its numbers.

1. Memorability tracks brain similarity across layers: Spearman rho across all layers of
   all models (pooled) and per model, each with its partial correlation controlling for
   relative depth, for every brain target (views memorability_brain_correlation and
   memorability_brain_partial; CIs from Fisher's z).
2. Across the fine-tuned models, test rho vs the penultimate layer's brain similarity per
   region, next to the same relation for the pretrained models (finetune_brain_relation).
3. Every fine-tuned model against each baseline (ResMem) and the data set's human ceiling,
   on identical test images (evaluations rows of the same data set, split and part).

Shown when the store holds a study (``study_progress`` rows); ``memtool report`` puts it
first. Reads views only; computes no statistic of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Callable

import numpy as np

from memtool.scoring.stats import correlate_across_layers
from memtool.store import Store, read
from memtool.store.read import STANDARD_TARGETS, ReadSession

FIGURE_PREFIXES = ("study_tracking", "study_relation", "study_baselines")


@dataclass
class StudyFindings:
    name: str
    tracking: list[dict] = field(default_factory=list)  # scope, model, region, n, rho, CI, partial, CI
    relation: list[dict] = field(default_factory=list)  # dataset, split, region, n, rho, CI (ft / pre)
    versus: list[dict] = field(default_factory=list)  # predictor, kind, dataset, split, n, rho, CI
    ceiling: float | None = None


REGIONS = STANDARD_TARGETS


def tracking_rows(s: ReadSession, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Finding 1 over the *pretrained* models' layers (fine-tuned checkpoints' penultimate
    layers left out), pooled and per model, with memtool.scoring.stats's bootstrap CIs."""
    rows = read.pretrained_layers(s, REGIONS).to_dicts()
    out = []
    for region in REGIONS:
        have = [r for r in rows if r.get(region) is not None and r.get("relative_depth") is not None]
        if not have:
            continue
        groups = [("pooled", "(all models)", have)]
        for model in sorted({r["model"] for r in have}):
            groups.append(("model", model, [r for r in have if r["model"] == model]))
        for scope, model, group in groups:
            c = correlate_across_layers(
                [r["memorability"] for r in group],
                [r[region] for r in group],
                [r["relative_depth"] for r in group],
                n_boot=n_boot,
                seed=seed,
            )
            out.append(
                {
                    "scope": scope,
                    "model": model,
                    "region": region,
                    "n": c.n,
                    "rho": _f(c.spearman),
                    "ci_low": _f(c.spearman_ci[0]),
                    "ci_high": _f(c.spearman_ci[1]),
                    "partial": _f(c.partial_spearman),
                    "partial_ci_low": _f(c.partial_ci[0]),
                    "partial_ci_high": _f(c.partial_ci[1]),
                }
            )
    return out


def _f(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def load_findings(store: Store) -> StudyFindings | None:
    """The three findings of the study the store holds; None for a store without one."""
    with read.reading(store) as s:
        names = read.study_names(s)
        if not names:
            return None
        f = StudyFindings(", ".join(names))
        f.tracking = tracking_rows(s)
        f.relation = read.brain_relation(s).to_dicts()
        f.versus = read.evaluations_on_test(s).to_dicts()
    ceilings = [r["ceiling"] for r in f.versus if r.get("ceiling") is not None]
    f.ceiling = ceilings[0] if ceilings else None
    return f


def _label(row: dict) -> str:
    from memtool.report.figures import short_model

    if row["kind"] == "baseline":
        return f"{row['predictor']} (baseline)"
    name = row["predictor_id"].split("@")[0]
    return short_model(name.replace("checkpoint:", ""))


def _err(values, lo, hi):
    v = np.asarray(values, dtype=float)
    lo = np.asarray([np.nan if x is None else x for x in lo], dtype=float)
    hi = np.asarray([np.nan if x is None else x for x in hi], dtype=float)
    return np.vstack([np.nan_to_num(v - lo, nan=0.0), np.nan_to_num(hi - v, nan=0.0)])


def tracking_figure(f: StudyFindings):
    from memtool.report.figures import short_model, style

    style()
    from matplotlib.figure import Figure

    regions = sorted({r["region"] for r in f.tracking})
    fig = Figure(
        figsize=(4.2 * max(1, len(regions)), 0.45 * (1 + len({r["model"] for r in f.tracking})) + 1.6)
    )
    for i, region in enumerate(regions):
        ax = fig.add_subplot(1, len(regions), i + 1)
        rows = [r for r in f.tracking if r["region"] == region]
        rows.sort(key=lambda r: (r["scope"] != "pooled", r["model"] or ""))
        y = np.arange(len(rows))[::-1]
        rho = [np.nan if r["rho"] is None else r["rho"] for r in rows]
        par = [np.nan if r["partial"] is None else r["partial"] for r in rows]
        ax.errorbar(
            rho,
            y + 0.15,
            xerr=_err(rho, [r["ci_low"] for r in rows], [r["ci_high"] for r in rows]),
            fmt="o",
            color="black",
            label="Spearman across layers",
            capsize=2,
        )
        ax.errorbar(
            par,
            y - 0.15,
            xerr=_err(par, [r["partial_ci_low"] for r in rows], [r["partial_ci_high"] for r in rows]),
            fmt="s",
            color="tab:orange",
            label="partial, depth held fixed",
            capsize=2,
        )
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels(
            [
                ("pooled" if r["scope"] == "pooled" else short_model(r["model"])) + f" (n={r['n']})"
                for r in rows
            ],
            fontsize=8,
        )
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel(f"memorability vs {region} similarity (rho)")
        ax.set_title(region)
        if i == 0:
            ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def _rows_figure(rows: list[dict], row_height: float):
    """A one-panel figure with a row of marks per entry: (figure, axes, y of each row)."""
    from matplotlib.figure import Figure

    from memtool.report.figures import style

    style()
    fig = Figure(figsize=(6.0, row_height * len(rows) + 1.6))
    return fig, fig.add_subplot(1, 1, 1), np.arange(len(rows))[::-1]


def relation_figure(f: StudyFindings):
    rows = f.relation
    fig, ax, y = _rows_figure(rows, 0.6)
    ft = [np.nan if r["rho"] is None else r["rho"] for r in rows]
    pre = [np.nan if r["pre_rho"] is None else r["pre_rho"] for r in rows]
    ax.errorbar(
        ft,
        y + 0.15,
        xerr=_err(ft, [r["ci_low"] for r in rows], [r["ci_high"] for r in rows]),
        fmt="o",
        color="tab:blue",
        capsize=2,
        label="fine-tuned: test rho vs penultimate similarity",
    )
    ax.errorbar(
        pre,
        y - 0.15,
        xerr=_err(pre, [r["pre_ci_low"] for r in rows], [r["pre_ci_high"] for r in rows]),
        fmt="s",
        color="tab:grey",
        capsize=2,
        label="pretrained: penultimate rho vs similarity",
    )
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['region']} ({r['dataset']} {r['split']}, n={r['n']})" for r in rows], fontsize=8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("Spearman rho across models")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def versus_figure(f: StudyFindings):
    rows = f.versus
    fig, ax, y = _rows_figure(rows, 0.4)
    rho = [np.nan if r["rho"] is None else r["rho"] for r in rows]
    colors = ["tab:red" if r["kind"] == "baseline" else "tab:blue" for r in rows]
    err = _err(rho, [r["ci_low"] for r in rows], [r["ci_high"] for r in rows])
    for j in range(len(rows)):
        ax.errorbar([rho[j]], [y[j]], xerr=err[:, j : j + 1], fmt="o", color=colors[j], capsize=2)
    if f.ceiling is not None:
        ax.axvline(f.ceiling, color="black", ls="--", lw=1)
        ax.text(
            f.ceiling,
            y.max() + 0.6 if len(y) else 0,
            f"human ceiling {f.ceiling:.3f}",
            fontsize=7,
            ha="right",
        )
    ax.set_yticks(y)
    ax.set_yticklabels([f"{_label(r)} (n={r['n']})" for r in rows], fontsize=8)
    ax.set_xlabel("Spearman rho with human memorability, same test images")
    fig.tight_layout()
    return fig


def _num(x, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}f}"


def _ci(lo, hi) -> str:
    return "–" if lo is None or hi is None else f"[{lo:.2f}, {hi:.2f}]"


def _table(headers, rows) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


FINDINGS = (
    (
        "tracking",
        "1. Memorability tracks brain similarity across layers",
        tracking_figure,
        "study_tracking",
        "Memorability vs brain similarity across layers",
        "Spearman rho across layers between each layer's memorability rho and its brain similarity "
        "(black) and the partial rho with relative depth held fixed (orange), pooled over models and "
        "per model, with 95% percentile bootstrap CIs over layers (pretrained models only).",
        ("scope", "model", "region", "layers", "rho", "95% CI", "partial (depth)", "95% CI"),
        lambda r: (
            r["scope"],
            r["model"],
            r["region"],
            r["n"],
            _num(r["rho"]),
            _ci(r["ci_low"], r["ci_high"]),
            _num(r["partial"]),
            _ci(r["partial_ci_low"], r["partial_ci_high"]),
        ),
        "No layers with both memorability and brain scores yet (stage 1).",
    ),
    (
        "relation",
        "2. Penultimate-layer brain similarity vs accuracy across fine-tuned models",
        relation_figure,
        "study_relation",
        "Fine-tuned accuracy vs penultimate-layer similarity, across models",
        "Spearman rho across models between the fine-tuned test rho and the fine-tuned penultimate "
        "layer's brain similarity (blue), next to the pretrained models' penultimate memorability rho "
        "vs their similarity (grey), with 95% CIs (Fisher's z; none for n <= 3).",
        ("data set", "split", "region", "models", "rho (fine-tuned)", "95% CI", "rho (pretrained)", "95% CI"),
        lambda r: (
            r["dataset"],
            r["split"],
            r["region"],
            r["n"],
            _num(r["rho"]),
            _ci(r["ci_low"], r["ci_high"]),
            _num(r["pre_rho"]),
            _ci(r["pre_ci_low"], r["pre_ci_high"]),
        ),
        "No fine-tuned model with penultimate brain scores yet (stages 2-3).",
    ),
    (
        "versus",
        "3. Fine-tuned models against the baselines and the human ceiling",
        versus_figure,
        "study_baselines",
        "Fine-tuned models and baselines on identical test images",
        "Test-set Spearman rho with 95% bootstrap CIs; fine-tuned models blue, baselines red, the "
        "dashed line the data set's human split-half ceiling.",
        ("predictor", "kind", "data set", "split", "test images", "rho", "95% CI", "human ceiling"),
        lambda r: (
            _label(r),
            r["kind"],
            r["dataset"],
            r["split"],
            r["n"],
            _num(r["rho"]),
            _ci(r["ci_low"], r["ci_high"]),
            _num(r["ceiling"]),
        ),
        "No test-set evaluations yet (stages 2 and 4).",
    ),
)
"""Per finding: its rows (a StudyFindings field), heading, figure (function, stem, title,
caption), table (headers, cells of a row) and the sentence shown while it has no rows."""


def findings_html(f: StudyFindings, emit: Callable) -> str:
    """The lead section; ``emit(fig, stem, title, caption)`` saves a figure and returns its ref."""
    from memtool.report.html import figure_html

    pooled = [r for r in f.tracking if r["scope"] == "pooled"]
    lead = "; ".join(
        f"{r['region']}: rho {_num(r['rho'])} {_ci(r['ci_low'], r['ci_high'])}, "
        f"partial on depth {_num(r['partial'])} {_ci(r['partial_ci_low'], r['partial_ci_high'])} "
        f"over {r['n']} layers"
        for r in pooled
    )
    parts = [f'<section id="study-findings"><h2>Study findings ({escape(f.name)})</h2>']
    for field_name, heading, figure, stem, title, caption, headers, cells, empty in FINDINGS:
        rows = getattr(f, field_name)
        parts.append(f"<h3>{heading}</h3>")
        if not rows:
            parts.append(f"<p>{empty}</p>")
            continue
        if field_name == "tracking":
            parts.append(f"<p>All layers of all models (pooled): {escape(lead)}.</p>")
        parts.append(figure_html(emit(figure(f), stem, title, caption)))
        parts.append(_table(list(headers), [cells(r) for r in rows]))
    parts.append("</section>")
    return "\n".join(parts)
