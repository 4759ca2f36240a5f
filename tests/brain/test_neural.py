"""Local neural data: the two real layouts, the memtool format, and bad input."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import scipy.io
from PIL import Image
from scipy.spatial.distance import squareform

from memtool.data.neural import (
    NeuralData,
    load_cowley2023,
    load_kriegeskorte92,
    load_neural,
    read_local,
    validate,
    write_local,
)
from memtool.errors import DataError, UsageError


def test_cowley_session_with_repeats(cowley_dir, cowley_210325):
    d = cowley_210325
    raw = np.load(cowley_dir / "responses_raw" / "responses_210325.npy")
    avg = np.load(cowley_dir / "responses_repeat_averaged" / "responses_210325.npy")
    assert (d.name, d.region, d.kind) == ("cowley2023-210325", "V4", "responses")
    assert d.responses.shape == (50, 640) and d.repeats.shape == (50, 640, 10)
    np.testing.assert_array_equal(d.responses, avg)
    np.testing.assert_array_equal(np.isnan(d.repeats), np.isnan(raw))
    # column i is the i-th image of the zip, unpacked byte for byte
    with zipfile.ZipFile(cowley_dir / "images" / "images_210325.zip") as zf:
        names = sorted(zf.namelist())
        assert [p.name for p in d.stimuli] == names
        assert d.stimuli[17].read_bytes() == zf.read(names[17])
    assert d.stimulus_ids[0] == "image0001" and d.spec.startswith("cowley2023:")


def test_cowley_sessions_without_repeats_and_selection(cowley_dir):
    d = load_neural(f"cowley2023:{cowley_dir}:210224")[0]
    assert d.repeats is None and d.responses.shape == (67, 800) and d.n_stimuli == 800
    with pytest.raises(UsageError, match="no session 999999"):
        load_cowley2023(cowley_dir, "999999")


def test_kriegeskorte_rdms_and_images(kriegeskorte_dir):
    mat = scipy.io.loadmat(str(kriegeskorte_dir / "Kriegeskorte_Neuron2008_supplementalData.mat"))
    monkey, human = load_kriegeskorte92(kriegeskorte_dir)
    assert (monkey.name, monkey.region, human.name, human.region) == (
        "kriegeskorte92-monkey",
        "IT",
        "kriegeskorte92-human",
        "IT",
    )
    np.testing.assert_array_equal(monkey.rdm, squareform(mat["RDMs_mIT_hIT_fig1"][0, 0]["RDM"].ravel()))
    np.testing.assert_array_equal(human.rdm, squareform(mat["RDMs_mIT_hIT_fig1"][0, 1]["RDM"].ravel()))
    with Image.open(monkey.stimuli[5]) as im:
        np.testing.assert_array_equal(np.asarray(im), mat["stimuli_92objs"][0, 5]["image"])
    assert monkey.stimulus_meta["category"][0] == "human bodypart"
    only = load_neural(f"kriegeskorte92:{kriegeskorte_dir}:human")
    assert [d.name for d in only] == ["kriegeskorte92-human"]


def test_bundled_demo_is_the_original_data(kriegeskorte_dir):
    demo = load_neural("demo-it")[0]
    original = load_kriegeskorte92(kriegeskorte_dir, "monkey")[0]
    np.testing.assert_array_equal(demo.rdm, original.rdm)
    assert demo.stimulus_ids == original.stimulus_ids and demo.spec == "demo-it"
    assert load_neural("demo-hit")[0].name == "kriegeskorte92-human"
    notice = (demo.root / "NOTICE").read_text()
    assert "MIT License" in notice and "Neuron, 60(6)" in notice
    size = sum(p.stat().st_size for p in demo.root.rglob("*") if p.is_file())
    assert size < 3e6


def _subset(d: NeuralData, n: int) -> NeuralData:
    return NeuralData(
        name=d.name,
        kind=d.kind,
        region=d.region,
        spec=d.spec,
        stimulus_ids=d.stimulus_ids[:n],
        stimuli=d.stimuli[:n],
        stimulus_meta={k: v[:n] for k, v in d.stimulus_meta.items()},
        responses=d.responses[:, :n],
        repeats=d.repeats[:, :n],
        neuroid_ids=d.neuroid_ids,
        citation=d.citation,
    )


def test_memtool_format_round_trip(tmp_path, cowley_210325):
    sub = _subset(cowley_210325, 30)
    root = write_local(tmp_path / "v4", [sub], name="mine")
    back = read_local(root)
    assert len(back) == 1 and back[0].name == "mine" and back[0].region == "V4"
    np.testing.assert_array_equal(np.isnan(back[0].repeats), np.isnan(sub.repeats))
    np.testing.assert_allclose(back[0].responses, np.nanmean(sub.repeats, axis=2))
    assert back[0].stimulus_ids == sub.stimulus_ids
    assert [p.read_bytes() for p in back[0].stimuli[:3]] == [p.read_bytes() for p in sub.stimuli[:3]]


def test_regions_split_and_select(tmp_path, cowley_210325):
    sub = _subset(cowley_210325, 20)
    root = write_local(tmp_path / "two", [sub])
    rows = (root / "neuroids.csv").read_text().splitlines()
    relabelled = [rows[0]] + [r.replace(",V4", ",IT") if i % 2 else r for i, r in enumerate(rows[1:])]
    (root / "neuroids.csv").write_text("\n".join(relabelled) + "\n")
    both = read_local(root)
    assert sorted(d.region for d in both) == ["IT", "V4"]
    assert sum(d.n_neuroids for d in both) == 50
    assert [d.region for d in load_neural(f"{root}:IT")] == ["IT"]
    with pytest.raises(UsageError, match="'V1' matches no region"):
        read_local(root, select="V1")


@pytest.fixture()
def local_dir(tmp_path, cowley_210325):
    return write_local(tmp_path / "bad", [_subset(cowley_210325, 12)])


def test_unreadable_stimulus(local_dir):
    broken = sorted((local_dir / "stimuli").iterdir())[3]
    broken.write_bytes(b"not an image")
    with pytest.raises(DataError, match=f"cannot read stimulus image .*{broken.name}"):
        read_local(local_dir)


def test_responses_that_do_not_match_the_images(local_dir):
    np.save(local_dir / "responses.npy", np.ones((50, 11)))
    with pytest.raises(DataError, match="11 images on axis 1 but there are 12 stimuli"):
        read_local(local_dir)
    np.save(local_dir / "responses.npy", np.ones((49, 12)))
    with pytest.raises(DataError, match="lists 50 neuroids but .* has 49 rows"):
        read_local(local_dir)


def test_nan_only_neuroids(local_dir):
    values = np.random.default_rng(0).random((50, 12))
    values[7] = np.nan
    np.save(local_dir / "responses.npy", values)
    with pytest.raises(DataError, match=r"1 neuroid\(s\) have only NaN responses \(210325-n007\)"):
        read_local(local_dir)


def _rdm_dir(tmp_path, matrix):
    demo = load_neural("demo-it")[0]
    d = NeuralData(
        name="x-m",
        kind="rdm",
        region="IT",
        spec="",
        stimulus_ids=demo.stimulus_ids[:5],
        stimuli=demo.stimuli[:5],
        rdm=np.zeros((5, 5)),
    )
    root = write_local(tmp_path / "rdm", [d])
    np.save(root / "rdms" / "m.npy", matrix)
    return root


def test_rdms_must_be_square_symmetric_and_fit(tmp_path):
    good = squareform(np.arange(1, 11, dtype=float))
    assert read_local(_rdm_dir(tmp_path / "ok", good))[0].rdm.shape == (5, 5)
    with pytest.raises(DataError, match="must be square"):
        read_local(_rdm_dir(tmp_path / "a", np.ones((5, 4))))
    asym = good.copy()
    asym[0, 3] += 0.5
    with pytest.raises(DataError, match=r"not symmetric \(entry \[0,3\]"):
        read_local(_rdm_dir(tmp_path / "b", asym))
    with pytest.raises(DataError, match="the RDM is 6x6 but there are 5 stimuli"):
        read_local(_rdm_dir(tmp_path / "c", squareform(np.arange(1, 16, dtype=float))))


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_neural(str(tmp_path / "nope"))
    (tmp_path / "e" / "stimuli").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "e" / "stimuli" / "a.png")
    with pytest.raises(DataError, match="neither responses.npy nor rdms.csv"):
        read_local(tmp_path / "e")
    (tmp_path / "e" / "meta.json").write_text("{oops")
    with pytest.raises(DataError, match="meta.json"):
        read_local(tmp_path / "e")
    (tmp_path / "e" / "meta.json").write_text(json.dumps({"name": "e"}))
    (tmp_path / "e" / "neuroids.csv").write_text("neuroid_id,region\nn1,V4\n")
    with pytest.raises(DataError, match="neuroids.csv exists but .*responses.npy does not"):
        read_local(tmp_path / "e")


def test_validate_rejects_partial_nan_and_wrong_kinds():
    demo = load_neural("demo-it")[0]
    values = np.ones((3, 92))
    values[1, 4] = np.nan
    d = NeuralData(
        name="n",
        kind="responses",
        region="V4",
        spec="",
        stimulus_ids=demo.stimulus_ids,
        stimuli=demo.stimuli,
        responses=values,
    )
    with pytest.raises(DataError, match="1 NaN responses"):
        validate(d, check_images=False)
