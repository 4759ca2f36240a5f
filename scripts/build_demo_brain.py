"""Build memtool's bundled brain data (memtool/data/demo_brain/) from the 92-image set.

Reads ``Kriegeskorte_Neuron2008_supplementalData.mat`` (distributed with rsatoolbox under
the MIT licence) through memtool's own adapter, and writes the memtool neural data
format (docs/brain.md): the 92 images (175x175, saved as JPEG at --quality to keep the
package small), stimuli.csv with the images' category labels, the monkey IT (Kiani et
al. 2007) and human IT (Kriegeskorte et al. 2008) RDMs unchanged as rdms/*.npy, and a
NOTICE with the licence and the citations. Run from the repository root:

    python scripts/build_demo_brain.py [--source ../shared/data/kriegeskorte92]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image

from memtool.data.neural import KRIEGESKORTE_MAT, load_kriegeskorte92, read_local, write_local

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "kriegeskorte92"
DEFAULT_OUT = REPO / "memtool" / "data" / "demo_brain"

NOTICE = """\
memtool demo brain data: the 92-object image set with monkey and human IT RDMs
===========================================================================

What is here (the memtool neural data format, see docs/brain.md):
  stimuli/        the 92 object images (175 x 175 pixels), re-encoded as JPEG (quality
                  {quality}); otherwise unchanged
  stimuli.csv     stimulus ids in the original order with the category labels of the
                  original file (category, human, face, animal, natural)
  rdms/monkey.npy monkey IT representational dissimilarity matrix (1 - Pearson r over
                  674 neurons; Kiani et al. 2007), 92 x 92, values unchanged
  rdms/human.npy  human IT RDM (316 fMRI voxels; Kriegeskorte et al. 2008), 92 x 92,
                  values unchanged
  rdms.csv, meta.json  the index of the above

Source: Kriegeskorte_Neuron2008_supplementalData.mat as distributed with rsatoolbox
(https://github.com/rsagroup/rsatoolbox) under the MIT licence below.

If you use these data, cite:

  Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., Tanaka, K.,
  & Bandettini, P. A. (2008). Matching categorical object representations in inferior
  temporal cortex of man and monkey. Neuron, 60(6), 1126-1141.

  Kiani, R., Esteky, H., Mirpour, K., & Tanaka, K. (2007). Object category structure in
  response patterns of neuronal population in monkey inferior temporal cortex. Journal
  of Neurophysiology, 97(6), 4296-4309.

Licence of the source distribution:

{licence}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"folder with {KRIEGESKORTE_MAT} and LICENSE_rsatoolbox_MIT.txt",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quality", type=int, default=95)
    args = parser.parse_args()

    items = load_kriegeskorte92(args.source)
    licence = (args.source / "LICENSE_rsatoolbox_MIT.txt").read_text(encoding="utf-8")
    if args.out.exists():
        shutil.rmtree(args.out)
    (args.out / "stimuli").mkdir(parents=True)
    names = []
    for sid, src in zip(items[0].stimulus_ids, items[0].stimuli):
        name = f"{sid}.jpg"
        with Image.open(src) as im:
            im.convert("RGB").save(args.out / "stimuli" / name, quality=args.quality)
        names.append(name)
    for item in items:
        item.stimulus_meta = {**item.stimulus_meta, "filename": names}
    write_local(args.out, items, name="kriegeskorte92", copy_images=False)
    (args.out / "NOTICE").write_text(NOTICE.format(quality=args.quality, licence=licence), encoding="utf-8")
    check = read_local(args.out)  # validates the result the way users will read it
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(
        f"wrote {args.out}: {check[0].n_stimuli} images, RDMs "
        f"{', '.join(d.name for d in check)}; {size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
