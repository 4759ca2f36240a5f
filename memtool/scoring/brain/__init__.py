"""Brain similarity of a layer: brainscore-vision benchmarks run on precomputed features.

Every brain target is a brainscore-vision ``Benchmark``, and every score is what that
benchmark returns for a ``BrainModel`` whose recordings are one layer's features. The
package, by responsibility:

* ``guard``: calls into brainscore quiet, downloads failing fast offline, one-line errors
  (the lazy import itself is ``memtool.brainscore_env``, shared with ``memtool.extract``);
* ``adapters``: the probe and layer models handed to benchmarks;
* ``target``: ``BrainTarget`` (stimuli, ceiling, ``score(features)``) and ``BrainScore``;
* ``registry``: Brain-Score registry benchmarks (``IT``, ``V4``, ... or any id);
* ``local`` and ``assemblies``: local response data and RDMs (``memtool.data.neural``);
* ``specs``: ``--brain`` values to targets;
* ``records``: the rows the store keeps (``target_records``, ``score_rows``).

Which images a target needs is learnt by running its benchmark once against the probe,
so the sweep extracts exactly those images in its own batched forward passes; then
``BrainTarget.score`` hands one layer's features to the benchmark. Behavioural
benchmarks (``start_task(probabilities, fitting_stimuli)``) get brainscore's own
``ProbabilitiesMapping`` readout fitted on that layer.

brainscore-vision is imported on first use only: it takes seconds. Every name below is
importable from ``memtool.scoring.brain`` as it was when this was one module.
"""

from __future__ import annotations

from memtool.brainscore_env import brainscore_version
from memtool.scoring.brain.adapters import VISUAL_DEGREES, make_layer_model, make_probe
from memtool.scoring.brain.guard import brainio_cache
from memtool.scoring.brain.local import LOCAL_VERSION, local_target
from memtool.scoring.brain.records import brain_setup_id, register_target, score_rows, target_records
from memtool.scoring.brain.registry import ALIASES, SPEC_HELP, registry_target
from memtool.scoring.brain.specs import check_registry_specs, is_local_spec, load_brain_targets
from memtool.scoring.brain.target import REGRESSIONS, BrainScore, BrainTarget

_make_layer_model = make_layer_model  # the name tests and benchmarks used before the split

__all__ = [
    "ALIASES",
    "LOCAL_VERSION",
    "REGRESSIONS",
    "SPEC_HELP",
    "VISUAL_DEGREES",
    "BrainScore",
    "BrainTarget",
    "brain_setup_id",
    "brainio_cache",
    "brainscore_version",
    "check_registry_specs",
    "is_local_spec",
    "load_brain_targets",
    "local_target",
    "make_layer_model",
    "make_probe",
    "register_target",
    "registry_target",
    "score_rows",
    "target_records",
]
