import pytest
import torch

try:
    from ._data_fixtures import make_csv, make_jpeg
except ImportError:
    from _data_fixtures import make_csv, make_jpeg

from memtool.data.images import ImageDataset, make_loader
from memtool.data.memorability import check_images, load_memorability
from memtool.errors import DataError


def test_image_dataset_returns_rgb_tensor_and_index(tmp_path):
    a = make_jpeg(tmp_path / "a.jpg", size=(20, 10))
    gray = tmp_path / "g.png"
    from PIL import Image

    Image.new("L", (8, 8), 128).save(gray)
    ds = ImageDataset([a, gray], transform=None)
    assert len(ds) == 2
    x, i = ds[0]
    assert i == 0 and x.shape == (3, 10, 20) and x.dtype == torch.float32
    x, i = ds[1]
    assert i == 1 and x.shape == (3, 8, 8)
    assert torch.allclose(x, torch.full_like(x, 128 / 255))
    sized = ImageDataset([a], transform=lambda im: torch.tensor(im.size))
    assert sized[0][0].tolist() == [20, 10]


def test_corrupt_image_raises_data_error(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match=f"cannot read image {bad}") as err:
        ImageDataset([bad], None)[0]
    assert err.value.hint == "remove it from the data set or replace the file"
    with pytest.raises(DataError, match="file not found"):
        ImageDataset([tmp_path / "gone.jpg"], None)[0]


def test_make_loader_keeps_order(tmp_path):
    paths = [make_jpeg(tmp_path / f"{i}.jpg", size=(16, 16), seed=i) for i in range(5)]
    batches = list(make_loader(paths, None, batch_size=2))
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0][0].shape == (2, 3, 16, 16)


def test_check_images_reports_bad_files(tmp_path):
    csv = make_csv(tmp_path, n_images=6)
    truncated = tmp_path / "pics" / "im1.jpg"
    truncated.write_bytes(truncated.read_bytes()[:200])
    (tmp_path / "pics" / "im3.jpg").write_bytes(b"garbage")
    ds = load_memorability(str(csv))
    seen = []
    bad = check_images(ds, progress=lambda done, total: seen.append((done, total)))
    assert [p.name for p, _ in bad] == ["im1.jpg", "im3.jpg"]
    assert all(reason for _, reason in bad)
    assert seen[-1] == (6, 6) and len(seen) == 6
