"""Local neural data: one documented on-disk format and adapters for two public layouts.

A *neural data set* is a set of stimulus images with, for each image, either the
responses of recorded neuroids (neurons, sites, voxels) or a representational
dissimilarity matrix (RDM) over the images. ``load_neural(spec)`` returns one
:class:`NeuralData` per region (response data) or per RDM; ``memtool.scoring.brain``
turns each into a brain target scored with brainscore-vision. Nothing here imports
brainscore-vision.

The memtool format (a folder; see docs/brain.md for a worked example)::

    my_recordings/
      stimuli/             the images (any format Pillow reads)
      stimuli.csv          optional: stimulus_id,filename[,more columns]; fixes the order
                           of the images (column i of the responses is row i here) and
                           adds per-image metadata. Without it: the files of stimuli/
                           sorted by name, stimulus_id = file name without extension.
      responses.npy        optional: float array (neuroids, images) of mean responses, or
                           (neuroids, images, repeats) of single trials with NaN where an
                           image had fewer repeats. Repeats give a split-half ceiling.
      neuroids.csv         required with responses.npy: one row per neuroid (row i is
                           row i of responses.npy) with columns neuroid_id,region.
      rdms.csv             optional: file,region[,name,description]: one row per RDM file
                           (a .npy (images, images) dissimilarity matrix, symmetric, zero
                           diagonal, path relative to the folder).
      meta.json            optional: {"name": ..., "citation": ...}

Specs understood by ``load_neural``:

``DIR`` or ``DIR:SELECT``
    a folder in the memtool format; SELECT keeps the region or RDM name given.
``cowley2023:DIR[:SESSION]``
    the V4 release of Cowley, Stan, Pillow & Smith (2023): ``images/images_<s>.zip``,
    ``responses_repeat_averaged/responses_<s>.npy`` (neurons, images) and, where
    present, ``responses_raw/responses_<s>.npy`` (neurons, images, repeats; NaN-padded).
    Without SESSION every session found is loaded.
``kriegeskorte92:FILE[:monkey|human]``
    the 92-image set (``Kriegeskorte_Neuron2008_supplementalData.mat``, or the folder
    holding it): monkey IT (Kiani et al. 2007) and human IT (Kriegeskorte et al. 2008)
    RDMs. Without a choice both are loaded.
``demo-it`` / ``demo-hit``
    the monkey / human IT RDMs of the 92-image set bundled with memtool
    (``memtool/data/demo_brain``, MIT licence, see its NOTICE).

Images stored inside a zip or a .mat file are written once to memtool's cache folder
(``$MEMTOOL_CACHE``, else ``$XDG_CACHE_HOME/memtool``, else ``~/.cache/memtool``).
Every problem with the input raises :class:`DataError` naming the file.

Modules: ``base`` (:class:`NeuralData`, the cache), ``files`` (.npy and CSV readers),
``checks`` (``validate``), ``local`` (the memtool format: ``read_local``,
``write_local``), ``cowley`` and ``kriegeskorte`` (the two public layouts) and ``specs``
(``load_neural``: which adapter a spec names).
"""

from __future__ import annotations

from memtool.data.base import IMAGE_SUFFIXES
from memtool.data.neural.base import NeuralData, cache_dir
from memtool.data.neural.checks import validate
from memtool.data.neural.cowley import COWLEY_CITATION, load_cowley2023
from memtool.data.neural.files import load_npy
from memtool.data.neural.kriegeskorte import (
    KRIEGESKORTE_CITATION,
    KRIEGESKORTE_MAT,
    KRIEGESKORTE_RDMS,
    load_kriegeskorte92,
)
from memtool.data.neural.local import read_local, write_local
from memtool.data.neural.specs import demo_brain_dir, load_neural, split_select

# The names these had when the package was one module (still imported by some callers).
_load_npy = load_npy
_split_select = split_select

__all__ = [
    "COWLEY_CITATION",
    "IMAGE_SUFFIXES",
    "KRIEGESKORTE_CITATION",
    "KRIEGESKORTE_MAT",
    "KRIEGESKORTE_RDMS",
    "NeuralData",
    "cache_dir",
    "demo_brain_dir",
    "load_cowley2023",
    "load_kriegeskorte92",
    "load_neural",
    "load_npy",
    "read_local",
    "split_select",
    "validate",
    "write_local",
]
