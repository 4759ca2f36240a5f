import pytest

try:
    from ._data_fixtures import make_csv, make_jpeg
except ImportError:
    from _data_fixtures import make_csv, make_jpeg

from memtool.data.memorability import load_memorability
from memtool.errors import DataError


def test_csv_loads_relative_paths_and_ignores_extra_columns(tmp_path):
    csv = make_csv(tmp_path, n_images=6)
    ds = load_memorability(f"csv:{csv}")
    assert ds.kind == "csv" and ds.name == "memo.csv" and ds.split_kind == "kfold"
    assert ds.spec == f"csv:{csv.resolve()}"
    assert [it.name for it in ds.items] == [f"pics/im{i}.jpg" for i in range(6)]
    assert [it.path for it in ds.items] == [tmp_path / "pics" / f"im{i}.jpg" for i in range(6)]
    assert ds.scores.tolist() == pytest.approx([0.1 * i for i in range(6)])
    assert ds.ceiling is None and ds.citation == ""


def test_csv_autodetect_and_folds(tmp_path):
    csv = make_csv(tmp_path, n_images=6, extra=False)
    ds = load_memorability(str(csv), folds=3)
    assert ds.kind == "csv" and len(ds.splits) == 3
    assert sorted(i for s in ds.splits for i in s.test.tolist()) == list(range(6))


@pytest.mark.parametrize(
    "row, expect",
    [
        ("pics/im2.jpg,", "line 3: missing score"),
        ("pics/im2.jpg,n/a", "line 3: non-numeric score 'n/a'"),
        (",0.3", "line 3: missing image path"),
        ("pics/im0.jpg,0.3", "line 3: duplicate image 'pics/im0.jpg'"),
    ],
)
def test_csv_bad_rows(tmp_path, row, expect):
    csv = make_csv(tmp_path, n_images=6, extra=False)
    lines = csv.read_text().splitlines()
    lines[2] = row
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=expect) as err:
        load_memorability(str(csv))
    assert str(csv) in err.value.message


def test_csv_header_required(tmp_path):
    csv = make_csv(tmp_path, extra=False)
    csv.write_text("pics/im0.jpg,0.1\npics/im1.jpg,0.2\n")
    with pytest.raises(DataError, match="line 1: header has no column 'path'"):
        load_memorability(str(csv))


def test_csv_empty_and_too_small(tmp_path):
    csv = make_csv(tmp_path, n_images=3, extra=False)
    with pytest.raises(DataError, match="3 images but 5 folds requested"):
        load_memorability(str(csv))
    csv.write_text("path,score\n\n")
    with pytest.raises(DataError, match="memo.csv lists no images"):
        load_memorability(str(csv))


def test_csv_missing_image(tmp_path):
    csv = make_csv(tmp_path, n_images=6)
    (tmp_path / "pics" / "im4.jpg").unlink()
    expect = r"1 image file\(s\).*im4.jpg \(listed at .*memo.csv line 6\)"
    with pytest.raises(DataError, match=expect):
        load_memorability(str(csv))


def test_spec_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_memorability(str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="cannot tell which kind") as err:
        load_memorability(str(tmp_path))
    assert "lamem" in err.value.hint.lower() and "csv" in err.value.hint.lower()
    make_jpeg(tmp_path / "x.jpg")
    with pytest.raises(DataError, match="cannot tell"):
        load_memorability(str(tmp_path / "x.jpg"))
    with pytest.raises(DataError, match="not a CSV file"):
        load_memorability(f"csv:{tmp_path}")
    with pytest.raises(DataError, match="no path given"):
        load_memorability("lamem:")
