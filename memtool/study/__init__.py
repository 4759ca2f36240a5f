"""`memtool study`: a whole study (sweep, fine-tune, penultimate layers, baselines, report)
from one TOML file, resumable, with a cost plan measured on this machine.

``config`` reads the file and ``checks`` judges each value; ``stages`` runs it; ``status``
says what is done; ``plan`` projects its cost from the models' architecture (``arch``) and
a calibration pass cached in the store (``calibrate``).
"""

from memtool.study.config import Study, StudyFileError, load_study

__all__ = ["Study", "StudyFileError", "load_study"]
