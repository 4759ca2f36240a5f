import pytest

try:
    from ._data_fixtures import make_csv, make_jpeg, make_lamem
except ImportError:
    from _data_fixtures import make_csv, make_jpeg, make_lamem

from memtool.data.memorability import LAMEM_CITATION, load_memorability
from memtool.errors import DataError, UsageError


def test_lamem_published_splits(tmp_path):
    scores = make_lamem(tmp_path, n_splits=2)
    ds = load_memorability(f"lamem:{tmp_path}")
    assert ds.kind == "lamem" and ds.name == "lamem" and ds.split_kind == "published"
    assert ds.spec == f"lamem:{tmp_path.resolve()}"
    assert ds.citation == LAMEM_CITATION and "Khosla" in ds.citation
    assert [it.name for it in ds.items] == sorted(scores)
    assert all(it.score == pytest.approx(scores[it.name]) for it in ds.items)
    assert all(it.path == tmp_path / "images" / it.name for it in ds.items)
    assert [s.name for s in ds.splits] == ["split1", "split2"]
    names = [it.name for it in ds.items]
    for number, sp in enumerate(ds.splits, start=1):
        for part, arr in (("train", sp.train), ("val", sp.val), ("test", sp.test)):
            listed = [
                l.split()[0] for l in (tmp_path / "splits" / f"{part}_{number}.txt").read_text().splitlines()
            ]
            assert sorted(names[i] for i in arr) == sorted(listed)
    assert ds.options == {"folds": None, "seed": 0, "splits": [1, 2], "limit": None}
    assert ds.ceiling is None


def test_lamem_choose_split_and_autodetect(tmp_path):
    make_lamem(tmp_path, n_splits=3)
    ds = load_memorability(str(tmp_path), splits=[2])
    assert ds.kind == "lamem"
    assert [s.name for s in ds.splits] == ["split2"]
    assert ds.options["splits"] == [2]


def test_lamem_union_of_images_over_splits(tmp_path):
    make_lamem(tmp_path, n_splits=1, n_images=6)
    make_jpeg(tmp_path / "images" / "extra.jpg")
    for part in ("train", "test"):
        (tmp_path / "splits" / f"{part}_2.txt").write_text(
            "00000001.jpg 0.5\nextra.jpg 0.9\n" if part == "train" else "00000002.jpg 0.53\n"
        )
    ds = load_memorability(f"lamem:{tmp_path}")
    assert len(ds.items) == 7  # 6 from split 1 plus extra.jpg from split 2
    assert ds.splits[1].val is None  # val_2.txt absent
    one = load_memorability(f"lamem:{tmp_path}", splits=[1])
    assert len(one.items) == 6


def test_lamem_limit_restricts_splits(tmp_path):
    make_lamem(tmp_path, n_splits=2, n_images=12)
    ds = load_memorability(f"lamem:{tmp_path}", limit=8, seed=4)
    assert len(ds.items) == 8 and ds.options["limit"] == 8
    for sp in ds.splits:
        for arr in (sp.train, sp.val, sp.test):
            assert arr.max() < 8
    again = load_memorability(f"lamem:{tmp_path}", limit=8, seed=4)
    assert again.fingerprint() == ds.fingerprint()


def test_lamem_inconsistent_score(tmp_path):
    make_lamem(tmp_path, n_splits=2)
    path = tmp_path / "splits" / "train_2.txt"
    lines = path.read_text().splitlines()
    name = lines[1].split()[0]
    lines[1] = f"{name} 0.0001"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load_memorability(f"lamem:{tmp_path}")
    msg = err.value.message
    assert name in msg and "train_2.txt line 2" in msg and "_1.txt line" in msg


@pytest.mark.parametrize(
    "bad, expect",
    [
        ("00000004.jpg abc", "non-numeric score 'abc'"),
        ("00000004.jpg", "missing score"),
        ("00000004.jpg nan", "not a finite number"),
    ],
)
def test_lamem_bad_score_line(tmp_path, bad, expect):
    make_lamem(tmp_path, n_splits=1)
    path = tmp_path / "splits" / "train_1.txt"
    lines = path.read_text().splitlines()
    lines[2] = bad
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=expect) as err:
        load_memorability(f"lamem:{tmp_path}")
    assert f"{path} line 3" in err.value.message


def test_lamem_duplicate_in_split(tmp_path):
    make_lamem(tmp_path, n_splits=1)
    test_file = tmp_path / "splits" / "test_1.txt"
    first = (tmp_path / "splits" / "train_1.txt").read_text().splitlines()[0]
    test_file.write_text(test_file.read_text() + first + "\n")
    with pytest.raises(DataError, match="listed again in split 1") as err:
        load_memorability(f"lamem:{tmp_path}")
    assert "test_1.txt line 4" in err.value.message and "train_1.txt line 1" in err.value.message


def test_lamem_missing_split_file(tmp_path):
    make_lamem(tmp_path, n_splits=2)
    with pytest.raises(DataError, match="train_3.txt does not exist"):
        load_memorability(f"lamem:{tmp_path}", splits=[3])
    for f in (tmp_path / "splits").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="no published split"):
        load_memorability(f"lamem:{tmp_path}")


def test_lamem_missing_images_named_and_counted(tmp_path):
    make_lamem(tmp_path, n_splits=1, n_images=12)
    for i in range(1, 9):
        (tmp_path / "images" / f"{i:08d}.jpg").unlink()
    with pytest.raises(DataError) as err:
        load_memorability(f"lamem:{tmp_path}")
    msg = err.value.message
    assert msg.startswith("8 image file(s)")
    assert "00000001.jpg" in msg and "and 3 more" in msg
    assert "_1.txt line" in msg


def test_lamem_empty_split_file(tmp_path):
    make_lamem(tmp_path, n_splits=1)
    (tmp_path / "splits" / "test_1.txt").write_text("\n")
    with pytest.raises(DataError, match="test_1.txt lists no images"):
        load_memorability(f"lamem:{tmp_path}")


def test_splits_option_only_for_lamem(tmp_path):
    csv = make_csv(tmp_path)
    with pytest.raises(UsageError):
        load_memorability(str(csv), splits=[1])
