from pathlib import Path

import numpy as np
import pytest
import scipy.io
from scipy.stats import spearmanr

try:
    from ._data_fixtures import make_jpeg, make_lnsim_flat, make_lnsim_published
except ImportError:
    from _data_fixtures import make_jpeg, make_lnsim_flat, make_lnsim_published

from memtool.data.memorability import LNSIM_CITATION, load_memorability, summarize
from memtool.errors import DataError

REAL_LNSIM = Path(__file__).parents[2].parent / "shared/data/lnsim"


def expected_ceiling(h1, h2):
    return np.mean([spearmanr(a, b)[0] for a, b in zip(h1, h2)])


# ---------------------------------------------------------------- published layout


def test_published_layout_scores_and_ceiling(tmp_path):
    h1, h2 = make_lnsim_published(tmp_path, n_images=10, n_splits=25)
    ds = load_memorability(f"lnsim:{tmp_path}")
    assert ds.kind == "lnsim" and ds.name == "lnsim" and ds.split_kind == "kfold"
    assert ds.citation == LNSIM_CITATION
    assert [it.name for it in ds.items] == [f"{j:04d}.jpg" for j in range(1, 11)]
    assert all(it.path == tmp_path / "Image_data" / it.name for it in ds.items)
    np.testing.assert_allclose(ds.scores, ((h1 + h2) / 2).mean(axis=0))
    assert ds.ceiling == pytest.approx(expected_ceiling(h1, h2))
    assert len(ds.splits) == 5 and ds.options["folds"] == 5


def test_published_layout_autodetect_and_nan_columns(tmp_path):
    h1, h2 = make_lnsim_published(tmp_path, n_images=12, nan_columns=(1, 6))
    ds = load_memorability(str(tmp_path), folds=3)
    assert ds.kind == "lnsim" and len(ds.splits) == 3
    names = [it.name for it in ds.items]
    assert "0002.jpg" not in names and "0007.jpg" not in names and len(names) == 10
    keep = [j for j in range(12) if j not in (1, 6)]
    np.testing.assert_allclose(ds.scores, ((h1 + h2) / 2).mean(axis=0)[keep])


def test_published_layout_other_variable_name(tmp_path):
    h1, h2 = make_lnsim_published(tmp_path, n_images=8)
    scipy.io.savemat(tmp_path / "Random_splits" / "subject_hrs1.mat", {"hrs": h1})
    ds = load_memorability(f"lnsim:{tmp_path}")
    np.testing.assert_allclose(ds.scores, ((h1 + h2) / 2).mean(axis=0))


def test_published_layout_ambiguous_variables(tmp_path):
    h1, _ = make_lnsim_published(tmp_path, n_images=8)
    path = tmp_path / "Random_splits" / "subject_hrs1.mat"
    scipy.io.savemat(path, {"a": h1, "b": h1})
    with pytest.raises(DataError, match="no numeric variable 'subject_hrs1'") as err:
        load_memorability(f"lnsim:{tmp_path}")
    assert str(path) in err.value.message


def test_published_layout_shape_mismatch(tmp_path):
    h1, _ = make_lnsim_published(tmp_path, n_images=8)
    scipy.io.savemat(tmp_path / "Random_splits" / "subject_hrs2.mat", {"subject_hrs2": h1[:, :5]})
    with pytest.raises(DataError, match="subject_hrs2.mat a 25x5"):
        load_memorability(f"lnsim:{tmp_path}")


def test_published_layout_missing_mat(tmp_path):
    make_lnsim_published(tmp_path, n_images=8)
    (tmp_path / "Random_splits" / "subject_hrs2.mat").unlink()
    with pytest.raises(DataError, match="subject_hrs2.mat does not exist"):
        load_memorability(f"lnsim:{tmp_path}")


def test_published_layout_corrupt_mat(tmp_path):
    make_lnsim_published(tmp_path, n_images=8)
    path = tmp_path / "Random_splits" / "subject_hrs1.mat"
    path.write_bytes(b"this is not a mat file at all" * 10)
    with pytest.raises(DataError, match="cannot read .*subject_hrs1.mat"):
        load_memorability(f"lnsim:{tmp_path}")


def test_published_layout_missing_image(tmp_path):
    make_lnsim_published(tmp_path, n_images=8)
    (tmp_path / "Image_data" / "0003.jpg").unlink()
    with pytest.raises(DataError) as err:
        load_memorability(f"lnsim:{tmp_path}")
    msg = err.value.message
    assert msg.startswith("1 image file(s)") and "0003.jpg" in msg
    assert "subject_hrs1.mat column 3" in msg


# --------------------------------------------------------------------- flat layout


def test_flat_layout(tmp_path):
    scores, pairs = make_lnsim_flat(tmp_path, n_images=8, n_splits=3)
    ds = load_memorability(f"lnsim:{tmp_path}", folds=4, seed=7)
    assert [it.name for it in ds.items] == list(scores)
    assert [it.score for it in ds.items] == pytest.approx(list(scores.values()))
    h = np.array([[pairs[(n, s)] for n in scores] for s in range(3)])
    assert ds.ceiling == pytest.approx(expected_ceiling(h[..., 0], h[..., 1]))
    assert len(ds.splits) == 4
    assert ds.options == {"folds": 4, "seed": 7, "splits": None, "limit": None}
    assert ds.spec == f"lnsim:{tmp_path.resolve()}"


def test_flat_layout_without_halves_has_no_ceiling(tmp_path):
    make_lnsim_flat(tmp_path, halves=False)
    assert load_memorability(str(tmp_path)).ceiling is None


def test_flat_layout_limit(tmp_path):
    make_lnsim_flat(tmp_path, n_images=8)
    ds = load_memorability(str(tmp_path), limit=6, folds=3, seed=2)
    assert len(ds.items) == 6 and ds.options["limit"] == 6
    again = load_memorability(str(tmp_path), limit=6, folds=3, seed=2)
    assert ds.fingerprint() == again.fingerprint()
    assert ds.ceiling is not None


@pytest.mark.parametrize(
    "row, expect",
    [
        ("0003.jpg,high", "line 4: non-numeric score 'high'"),
        ("0003.jpg,", "line 4: missing score"),
        ("0001.jpg,0.5", "line 4: duplicate image '0001.jpg' \\(already listed at line 2\\)"),
    ],
)
def test_flat_layout_bad_rows(tmp_path, row, expect):
    make_lnsim_flat(tmp_path)
    path = tmp_path / "scores.csv"
    lines = path.read_text().splitlines()
    lines[3] = row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=expect) as err:
        load_memorability(str(tmp_path))
    assert str(path) in err.value.message


def test_flat_layout_bad_halves(tmp_path):
    make_lnsim_flat(tmp_path)
    path = tmp_path / "split_halves.csv"
    lines = path.read_text().splitlines()
    lines[5] = "0002.jpg,one,0.5,0.5"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="split_halves.csv line 6: split 'one'"):
        load_memorability(str(tmp_path))
    lines[5] = "0002.jpg,0,0.5,?"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 6: non-numeric half2"):
        load_memorability(str(tmp_path))


def test_flat_layout_bad_header_and_empty(tmp_path):
    make_lnsim_flat(tmp_path)
    path = tmp_path / "scores.csv"
    path.write_text("name,value\n0001.jpg,0.5\n")
    with pytest.raises(DataError, match="scores.csv line 1: header has no column 'image'"):
        load_memorability(str(tmp_path))
    path.write_text("image,memorability\n")
    with pytest.raises(DataError, match="scores.csv lists no images"):
        load_memorability(str(tmp_path))
    path.write_text("")
    with pytest.raises(DataError, match="scores.csv is empty"):
        load_memorability(str(tmp_path))


def test_flat_layout_fewer_images_than_folds(tmp_path):
    make_lnsim_flat(tmp_path, n_images=4)
    with pytest.raises(DataError, match="4 images but 5 folds requested"):
        load_memorability(str(tmp_path))


def test_lnsim_folder_without_data(tmp_path):
    (tmp_path / "images").mkdir()
    make_jpeg(tmp_path / "images" / "0001.jpg")
    with pytest.raises(DataError, match="neither Image_data"):
        load_memorability(f"lnsim:{tmp_path}")


# ------------------------------------------------------------------------ real data


@pytest.mark.skipif(not REAL_LNSIM.is_dir(), reason="shared LNSIM data not present")
def test_real_lnsim():
    ds = load_memorability(str(REAL_LNSIM))
    assert ds.kind == "lnsim" and len(ds.items) == 1974
    assert ds.ceiling == pytest.approx(0.78, abs=0.015)
    info = summarize(ds)
    assert info["n_images"] == 1974 and info["n_splits"] == 5
    assert 0.5 < info["score_mean"] < 0.7
    assert sum(s["test"] for s in info["splits"]) == 1974
    first = ds.items[0]
    assert first.name == "0001.jpg" and first.score == pytest.approx(0.726367)


def test_published_layout_matlab_v73(tmp_path):
    """MATLAB -v7.3 files are HDF5 with a 512-byte MATLAB header; arrays stored transposed."""
    h5py = pytest.importorskip("h5py")
    h1, h2 = make_lnsim_published(tmp_path, n_images=8)
    for name, h in (("subject_hrs1", h1), ("subject_hrs2", h2)):
        path = tmp_path / "Random_splits" / f"{name}.mat"
        path.unlink()
        with h5py.File(path, "w", userblock_size=512) as f:
            f[name] = h.T  # MATLAB writes column-major, so HDF5 sees the transpose
        header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + b"\0" * 8 + b"\x00\x02IM"
        with path.open("r+b") as f:
            f.write(header)
    ds = load_memorability(f"lnsim:{tmp_path}")
    np.testing.assert_allclose(ds.scores, ((h1 + h2) / 2).mean(axis=0))
