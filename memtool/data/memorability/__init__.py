"""Memorability data set adapters: LaMem, LNSIM (two layouts), generic CSV and the demo.

``load_memorability(spec)`` turns a spec string into a :class:`MemorabilityDataset`:

``demo``
    The small set bundled with memtool (300 LNSIM images, see ``memtool/data/demo/NOTICE``).
``lamem:/path``
    LaMem as published (Khosla et al., ICCV 2015): ``images/`` plus
    ``splits/{train,val,test}_{1..5}.txt`` whose lines are ``name score`` (whitespace
    separated; further columns are ignored). The published splits are kept.
``lnsim:/path``
    LNSIM (Lu et al., IEEE TIP 2020) in either layout:

    * the authors' release: ``Image_data/NNNN.jpg`` and ``Random_splits/subject_hrs1.mat``,
      ``Random_splits/subject_hrs2.mat``. Each file holds one matrix (variable
      ``subject_hrs1`` / ``subject_hrs2``) of hit rates with one row per random split of
      the subjects into two halves (25 in the release) and one column per image: column
      ``j`` (0-based) is image ``{j+1:04d}.jpg``. This follows the authors' naming and the
      ``subject_hrs1(trial_i, :)`` indexing of the memorability code they build on; the
      binary files themselves could not be inspected, so the orientation is an
      assumption. If the expected variable name is absent, the file's only 2-D numeric
      variable is used. Columns that are NaN in every split are images without a score
      and are skipped; images without a column are ignored.
    * a flat layout: ``images/``, ``scores.csv`` (``image,memorability``) and optionally
      ``split_halves.csv`` (``image,split,half1,half2``).

    The score is the mean of the two halves, averaged over subject splits. The ceiling
    is the mean over subject splits of the Spearman rho between the halves.
``csv:/path/file.csv``
    A ``path,score`` CSV with a header; paths are relative to the CSV's folder, extra
    columns are ignored.
a bare path
    Detected: a folder with ``splits/`` is LaMem, one with ``Image_data/`` or
    ``scores.csv`` is LNSIM, a ``.csv`` file is a generic CSV.

Sets without a published split get seeded K-fold splits. Every problem in the input
raises :class:`DataError` naming the file and, where there is one, the line.

Modules: ``adapters`` (the adapters by kind, spec parsing, the demo's folder),
``dataset`` (``load_memorability``: subset, file check, splits, ceiling), ``table``
(what adapters read into, shared parsing), ``lamem``, ``lnsim``, ``csvfile`` (one
adapter each) and ``checks`` (image check and summary of a loaded set).
"""

from __future__ import annotations

from memtool.data.base import IMAGE_SUFFIXES
from memtool.data.memorability.adapters import ADAPTERS, LAYOUTS_HINT, Adapter, demo_root
from memtool.data.memorability.checks import check_images, image_problem, summarize
from memtool.data.memorability.dataset import load_memorability, split_half_ceiling
from memtool.data.memorability.lamem import LAMEM_CITATION
from memtool.data.memorability.lnsim import LNSIM_CITATION

__all__ = [
    "ADAPTERS",
    "IMAGE_SUFFIXES",
    "LAMEM_CITATION",
    "LAYOUTS_HINT",
    "LNSIM_CITATION",
    "Adapter",
    "check_images",
    "demo_root",
    "image_problem",
    "load_memorability",
    "split_half_ceiling",
    "summarize",
]
