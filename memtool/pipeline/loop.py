"""The one loop every target goes through: plan groups, extract, score, send rows to the sink.

For a list of targets sharing one way of making features (memtool.pipeline.features):
the layers each target still lacks are found in the sink (``--force``: all of them), the
layers any target needs are grouped under --memory-budget, and per group the features'
Reducer is prepared once; then each target's stimuli go through the network once with
the group's layers tapped, and the layers are scored ``commit_every`` at a time, each
chunk's rows committed before the next chunk is scored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class ModelRun:
    """One model in the pipeline: what every pass of every target needs."""

    ctx: object  # SweepContext
    sink: object  # ResultSink
    run_id: str
    reporter: object  # Reporter
    model: object  # torch.nn.Module, on ctx.device, in eval mode
    loaded: object  # memtool.models.registry.LoadedModel
    model_id: str
    probed: list  # the selected layers (aliases resolved), ProbedLayer
    workers: int  # image-decoding processes
    seconds: dict = field(default_factory=dict)

    @property
    def scorable(self) -> list:
        return [p for p in self.probed if p.scorable]


@dataclass
class LoopResult:
    n_groups: int = 0
    todo: dict = field(default_factory=dict)  # target key -> layers scored now
    skipped: dict = field(default_factory=dict)  # target key -> layers already stored


def score_targets(run: ModelRun, features, targets: list) -> LoopResult:
    """Score every layer of ``run`` each of ``targets`` still lacks, on ``features``."""
    scorable, out = run.scorable, LoopResult()
    todo: dict[int, set[str]] = {}
    for i, t in enumerate(targets):
        run.seconds.setdefault(f"{t.timing}extract", 0.0)
        run.seconds.setdefault(f"{t.timing}score", 0.0)
        done = set() if run.ctx.config.force else run.sink.scored_layers(run.model_id, t.setup_id, t.key)
        todo[i] = {p.name for p in scorable if p.name not in done}
        out.todo[t.key], out.skipped[t.key] = len(todo[i]), len(scorable) - len(todo[i])
        if out.skipped[t.key]:
            run.reporter.message(t.skipped_note(out.skipped[t.key]))
    needed = [p for p in scorable if any(p.name in names for names in todo.values())]
    groups = features.plan(needed, max(len(t.stimuli) for t in targets)) if needed else []
    out.n_groups = len(groups)
    for k, group in enumerate(groups, 1):
        reducer = features.prepare(group)
        note = features.label + (f" (pass {k}/{len(groups)})" if len(groups) > 1 else "")
        for i, t in enumerate(targets):
            layers = [p for p in group if p.name in todo[i]]
            if layers:
                _pass(run, t, layers, reducer, features, note)
        del reducer  # this group's features (Brain-Score components) before the next's
    return out


def _pass(run: ModelRun, target, layers: list, reducer, features, note: str) -> None:
    """``target``'s stimuli through the model with ``layers`` tapped by ``reducer``, then
    the layers scored and committed through the sink ``commit_every`` at a time."""
    from memtool.extract.tap import LayerTap, run_batches
    from memtool.pipeline.images import image_batches

    ctx, seconds, n = run.ctx, run.seconds, len(target.stimuli)
    t0 = time.perf_counter()
    task = run.reporter.task(f"{target.prefix}extract {len(layers)} layers{note}", n)
    with LayerTap(run.model, layers, reducer, n) as tap:
        run_batches(
            run.model,
            tap,
            image_batches(ctx, target.stimuli, features.transform, run.workers),
            ctx.device,
            autocast=features.autocast,
            on_batch=task.advance,
        )
    task.close()
    seconds[f"{target.timing}extract"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    task = run.reporter.task(f"{target.prefix}score layers", len(layers))
    step = ctx.config.commit_every
    for c0 in range(0, len(layers), step):
        chunk = layers[c0 : c0 + step]
        feats, took = [], []
        for p in chunk:
            t_layer = time.perf_counter()
            feats.append(reducer.finalize(p.name, tap.features.pop(p.name)))
            took.append(time.perf_counter() - t_layer)
        scored = target.score(run, chunk, feats, task.advance)
        rows = []
        for p, f, (result, s), s_final in zip(chunk, feats, scored, took):
            rows.extend(target.rows(run, p, int(f.shape[1]), result, s + s_final, reducer.spec))
        del feats, scored
        target.write(run.sink, rows)
    task.close()
    seconds[f"{target.timing}score"] += time.perf_counter() - t0
