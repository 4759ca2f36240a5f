"""Brain-Score's layer features: flatten, then PCA-1000 fitted on 1000 reference images.

brainscore-vision scores a layer (``LayerScores`` in
``model_helpers/brain_transformation/neural.py``) on its flattened activations projected
by ``LayerPCA`` (``model_helpers/activations/pca.py``): per layer, scikit-learn's
``PCA(n_components=1000, random_state=0)`` fitted on the activations of 1000 ImageNet
validation images (``_get_imagenet_val``); a layer with at most 1000 features is passed
unreduced. The images are preprocessed as a Brain-Score model plugin does. This package
reproduces that on the sweep's device, within a memory budget:

* ``reference``: the 1000 reference images (``resolve_reference_images``) and the
  Brain-Score preprocessing (``brainscore_transform``);
* ``pca``: the exact fit of one layer through the 1000 x 1000 Gram matrix (``fit_pca``);
* ``fit``: groups of layers under the budget (``plan_groups``), one truncated forward pass
  over the reference images per group (``fit_components``, ``group_components``);
* ``cache``: fitted components on disk (``ComponentCache``);
* ``features``: the reducer whose hook projects a batch on the device (``BrainscoreFeatures``).
"""

from memtool.extract.brainscore_pca.cache import FIT_VERSION, ComponentCache, cache_root
from memtool.extract.brainscore_pca.features import (
    FEATURE_MODES,
    BrainscoreFeatures,
    check_mode,
    features_spec,
)
from memtool.extract.brainscore_pca.fit import fit_components, group_components, layer_bytes, plan_groups
from memtool.extract.brainscore_pca.pca import Components, fit_pca, fit_working_bytes
from memtool.extract.brainscore_pca.reference import (
    IMAGE_SUFFIXES,
    MODELS_BUCKET_HOST,
    N_COMPONENTS,
    ReferenceSet,
    brainscore_preprocessing,
    brainscore_transform,
    imagenet_val_path,
    resolve_reference_images,
)

__all__ = [
    "N_COMPONENTS",
    "FEATURE_MODES",
    "FIT_VERSION",
    "IMAGE_SUFFIXES",
    "MODELS_BUCKET_HOST",
    "ReferenceSet",
    "resolve_reference_images",
    "imagenet_val_path",
    "brainscore_preprocessing",
    "brainscore_transform",
    "Components",
    "fit_pca",
    "fit_working_bytes",
    "fit_components",
    "group_components",
    "layer_bytes",
    "ComponentCache",
    "cache_root",
    "BrainscoreFeatures",
    "features_spec",
    "plan_groups",
    "check_mode",
]
