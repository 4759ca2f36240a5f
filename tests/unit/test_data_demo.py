from pathlib import Path

import numpy as np
from PIL import Image

from memtool.data.memorability import check_images, demo_root, load_memorability, summarize


def test_demo_loads():
    ds = load_memorability("demo")
    assert ds.kind == "demo" and ds.name == "demo" and ds.spec == "demo"
    assert len(ds.items) == 300
    assert len(ds.splits) == 5 and ds.split_kind == "kfold"
    assert ds.root == demo_root() and ds.root.is_dir()
    assert "Lu" in ds.citation and "2020" in ds.citation
    assert 0.7 < ds.ceiling < 0.85
    scores = ds.scores
    assert scores.min() < 0.35 and scores.max() > 0.85  # spans the score range
    assert summarize(ds)["n_images"] == 300


def test_demo_images_small_and_readable():
    ds = load_memorability("demo")
    for it in ds.items:
        with Image.open(it.path) as im:
            assert max(im.size) <= 256
    assert check_images(ds) == []


def test_demo_files():
    root = demo_root()
    notice = " ".join((root / "NOTICE").read_text().split())
    assert "Understanding and predicting the memorability of outdoor natural scenes" in notice
    assert "cite" in notice.lower()
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert total < 6e6
    assert root == Path(__import__("memtool.data", fromlist=["x"]).__file__).parent / "demo"


def test_demo_limit_is_seeded():
    a = load_memorability("demo", limit=50, seed=1)
    b = load_memorability("demo", limit=50, seed=1)
    c = load_memorability("demo", limit=50, seed=2)
    assert len(a.items) == 50 and a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert np.isfinite(a.scores).all()
