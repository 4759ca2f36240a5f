"""Issue 10 through the command line: validation before work, signals, disk full, bad
options, the query sandbox and its hints, uncut tables, honest checkpoint errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import torch
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.store import Store
from tests._sweep_args import tiny_sweep_options

runner = CliRunner()
TINY = ["--random-init", "--limit", "24", "--folds", "3", "--n-boot", "20", "--batch-size", "8"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    db = tmp_path_factory.mktemp("rel") / "s.duckdb"
    res = invoke("sweep", "--model", "test_resnet", *TINY, "--db", db)
    assert res.exit_code == 0, res.output
    return db


# -- 3. validation before work ----------------------------------------------------------------


def test_every_model_and_layer_pattern_is_checked_before_any_work(tmp_path):
    db = tmp_path / "p.duckdb"
    bad_ckpt = tmp_path / "missing.pth"
    res = invoke(
        "sweep",
        "--model",
        "test_resnet",
        "--model",
        "no_such_net_xyz",
        "--model",
        "test_efficientnet",
        "--model",
        str(bad_ckpt),
        "--layers",
        r"^layer1\.",
        *TINY,
        "--db",
        db,
    )
    assert res.exit_code == 4, res.output
    line = one_error_line(res.output)
    assert "3 of the models cannot be swept, nothing was run" in line
    assert "no_such_net_xyz" in line and "test_efficientnet" in line and "missing.pth" in line
    assert "'^layer1\\\\.' matches no layer" in line or "matches no layer" in line
    assert "[1/" not in res.output  # no model started
    assert not db.exists()


def test_a_model_failing_during_the_run_is_recorded_and_the_others_go_on(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    db = tmp_path / "f.duckdb"
    # test_resnet has no pretrained weights here: a model-specific failure at load time.
    res = invoke(
        "sweep",
        "--model",
        "test_resnet",
        "--model",
        "tf_efficientnet_lite0",
        "--layers",
        "penultimate",
        *tiny_sweep_options(n_boot=20, batch_size=8),
        "--brain",
        "none",
        "--db",
        db,
    )
    assert res.exit_code == 5, res.output
    assert "1 of 2 models failed (test_resnet)" in one_error_line(res.output)
    store = Store(db)
    tasks = dict(store.query("SELECT model, status FROM sweep_tasks")[1])
    assert tasks == {"test_resnet": "failed", "tf_efficientnet_lite0": "completed"}
    assert store.query("SELECT status FROM runs")[1] == [("failed",)]
    assert store.query("SELECT count(*) FROM layer_scores WHERE fold = 'pooled'")[1][0][0] >= 1


# -- 5. signals -------------------------------------------------------------------------------


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    db = tmp_path / "t.duckdb"
    cmd = [
        sys.executable,
        "-m",
        "memtool",
        "sweep",
        "--model",
        "test_resnet",
        "--model",
        "test_efficientnet",
        "--random-init",
        "--limit",
        "120",
        "--folds",
        "3",
        "--n-boot",
        "4000",
        "--batch-size",
        "4",
        "--db",
        str(db),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        started = False
        while time.monotonic() < deadline and proc.poll() is None and not started:
            time.sleep(0.2)
            try:
                con = duckdb.connect(str(db), read_only=True)
                started = bool(
                    con.execute("SELECT count(*) FROM sweep_tasks WHERE status = 'running'").fetchall()[0][0]
                )
                con.close()
            except duckdb.Error:
                pass
        assert started, "the sweep did not start"
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        "interrupted: everything committed so far is kept; run the same command again to resume"
    ], err
    store = Store(db)
    assert store.query("SELECT status, error FROM runs")[1] == [("interrupted", "terminated by SIGTERM")]
    statuses = [r[0] for r in store.query("SELECT status FROM sweep_tasks")[1]]
    assert "running" not in statuses and "interrupted" in statuses


# -- 6. disk full and bad options -------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path):
    """A real 8 MiB tmpfs holding a migrated store, then filled to the last byte."""
    mount = tmp_path / "full"
    mount.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {res.stderr.strip()}")
    try:
        db = mount / "s.duckdb"
        Store(db).migrate()
        with open(mount / "filler", "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        yield db
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_exit_6(full_disk, swept):
    res = invoke("sweep", "--model", "test_resnet", *TINY, "--db", full_disk)
    assert res.exit_code == 6, res.output
    line = one_error_line(res.output)
    assert f"no space left on device writing {full_disk}" in line
    assert "free space and rerun: nothing committed is lost" in line
    for fmt in ("csv", "parquet"):
        out = full_disk.parent / f"x.{fmt}"
        res = invoke("query", "SELECT * FROM layer_scores", "--db", swept, "--format", fmt, "--out", out)
        assert res.exit_code == 6, res.output
        assert f"no space left on device writing {out}" in one_error_line(res.output)
        assert not out.exists()  # no half-written file


@pytest.mark.parametrize(
    "args, text",
    [
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--workers", "-1"], "--workers must be 0 or more"),
        (["--memory-budget", "0"], "--memory-budget must be a positive number"),
        (["--memory-budget", "0.000001"], "too small: layer"),
    ],
)
def test_bad_option_values_are_one_line_and_exit_2(tmp_path, args, text):
    res = invoke("sweep", "--model", "test_resnet", *TINY, *args, "--db", tmp_path / "o.duckdb")
    assert res.exit_code == 2, res.output
    assert text in one_error_line(res.output)


def test_query_out_into_a_missing_or_unusable_folder(swept, tmp_path):
    res = invoke(
        "query", "SELECT 1", "--db", swept, "--format", "csv", "--out", tmp_path / "no" / "such" / "r.csv"
    )
    assert res.exit_code == 2 and "does not exist" in one_error_line(res.output)
    afile = tmp_path / "afile"
    afile.write_text("x")
    res = invoke("query", "SELECT 1", "--db", swept, "--format", "csv", "--out", afile / "r.csv")
    assert res.exit_code == 2 and "does not exist" in one_error_line(res.output)
    res = invoke("query", "SELECT 1", "--db", swept, "--format", "csv", "--out", tmp_path)
    assert res.exit_code == 2 and "is a directory" in one_error_line(res.output)


UNWRITABLE_PROBE = """
import os, sys
from typer.testing import CliRunner
from memtool.cli.main import app
import memtool.cli.query_cmd, memtool.store, duckdb, polars
for fmt in ("csv", "xml"):  # every module the command and its error line need, imported as root
    CliRunner().invoke(app, ["query", "SELECT 1", "--db", sys.argv[1], "--format", fmt])
if os.geteuid() == 0:
    os.setgid(65534); os.setuid(65534)
res = CliRunner().invoke(app, ["query", "SELECT 1 AS x", "--db", sys.argv[1], "--format", "csv",
                               "--out", sys.argv[2]])
print(res.exit_code); print(res.output)
"""


def test_query_out_into_an_unwritable_folder(swept, tmp_path):
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="memtool-ro-"))
    try:
        os.chmod(folder, 0o755)
        db = folder / "s.duckdb"
        shutil.copy(swept, db)
        os.chmod(db, 0o644)
        locked = folder / "locked"
        locked.mkdir(mode=0o555)
        out = subprocess.run(
            [sys.executable, "-c", UNWRITABLE_PROBE, str(db), str(locked / "r.csv")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        code, *rest = out.stdout.splitlines()
        assert code == "2", out.stdout + out.stderr
        assert "permission denied" in one_error_line("\n".join(rest))
    finally:
        shutil.rmtree(folder)


# -- 4 and 9. the query sandbox and what its refusals say -------------------------------------


def test_query_cannot_touch_another_store_or_write_files(swept, tmp_path):
    other = tmp_path / "other.duckdb"
    res = invoke("sweep", "--model", "test_resnet", *TINY, "--db", other)
    assert res.exit_code == 0
    before = Store(other).query("SELECT count(*) FROM layer_scores")[1]
    res = invoke("query", f"ATTACH '{other}' AS w (READ_WRITE); DELETE FROM w.layer_scores", "--db", swept)
    assert res.exit_code == 6
    line = one_error_line(res.output)
    assert "cannot attach, copy out" in line and "SHOW ALL TABLES" not in line
    assert Store(other).query("SELECT count(*) FROM layer_scores")[1] == before
    target = tmp_path / "copied.csv"
    res = invoke("query", f"COPY layer_scores TO '{target}'", "--db", swept)
    assert res.exit_code == 6 and "--out FILE" in one_error_line(res.output)
    assert not target.exists()


def test_a_rejected_write_says_read_only_not_show_all_tables(swept):
    res = invoke("query", "DELETE FROM layer_scores", "--db", swept)
    assert res.exit_code == 6
    line = one_error_line(res.output)
    assert "read-only" in line and "SHOW ALL TABLES" not in line
    res = invoke("query", "SELECT * FROM no_such_view", "--db", swept)
    assert res.exit_code == 6 and "SHOW ALL TABLES" in one_error_line(res.output)


# -- 8. output that is not a terminal ---------------------------------------------------------


def test_piped_tables_keep_every_number_and_name(swept):
    name = "blocks." + ".".join(f"stage{i}" for i in range(20))  # 140 characters
    res = invoke(
        "query",
        f"SELECT '{name}' AS layer, 48 AS k, 0.4396 AS rho, 123456789 AS n, '{name}' AS again",
        "--db",
        swept,
    )
    assert res.exit_code == 0
    assert res.output.count(name) == 2
    row = next(line for line in res.output.splitlines() if name in line)
    assert " 48 " in row and " 0.4396 " in row and " 123456789 " in row


def test_a_narrow_terminal_wraps_text_and_never_cuts_numbers():
    import io

    from rich.console import Console

    from memtool.cli.tables import result_table

    rows = [
        ["timm:tf_efficientnet_lite0", "blocks.5.2.bn1.activation", 0.4396, 1152],
        ["timm:resnet50", "layer4.2.conv3", 0.41, 48],
    ]
    for width in (60, 40, 20):
        buf = io.StringIO()
        Console(width=width, file=buf, force_terminal=True, color_system=None).print(
            result_table(["model", "layer", "rho", "k"], rows, no_wrap=["model", "layer"])
        )
        text = buf.getvalue()
        assert all(len(line) <= width for line in text.splitlines())
        for number in ("0.4396", "1152", "0.41", "48"):
            assert number in text.replace("│", " ").split(), (width, text)


# -- 9. a random-bytes checkpoint --------------------------------------------------------------


def test_a_random_bytes_checkpoint_is_called_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(os.urandom(4096))
    res = invoke(
        "sweep",
        "--model",
        "test_resnet",
        "--checkpoint",
        junk,
        "--limit",
        "24",
        "--folds",
        "3",
        "--n-boot",
        "20",
        "--db",
        tmp_path / "j.duckdb",
    )
    assert res.exit_code == 5
    line = one_error_line(res.output)
    assert "is not a checkpoint" in line and "weights_only" not in line
    # A pickle with a non-tensor object: named, and still no weights_only=False advice.
    obj = tmp_path / "obj.pth"
    torch.save({"weights": torch.zeros(2), "extra": Path("x")}, obj)
    res = invoke(
        "sweep",
        "--model",
        "test_resnet",
        "--checkpoint",
        obj,
        "--limit",
        "24",
        "--folds",
        "3",
        "--n-boot",
        "20",
        "--db",
        tmp_path / "j.duckdb",
    )
    assert res.exit_code == 5
    line = one_error_line(res.output)
    assert "holds Python objects besides tensors" in line and "weights_only" not in line
