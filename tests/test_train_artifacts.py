"""The binned training inputs travel as bytes, so steps on separate machines (AWS Batch) can use them."""
from pathlib import Path

import lightgbm as lgb
import numpy as np

from fraudcore.train import TRAIN_BIN, VALID_NPZ, Matrices, ensure_local_matrices, pack_matrices


def _matrices(tmp_path: Path) -> Matrices:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4)).astype(np.float32)
    y = (rng.random(500) < 0.1).astype(np.float32)
    ds = lgb.Dataset(X, y, params={"verbose": -1})
    ds.construct()
    ds.save_binary(str(tmp_path / TRAIN_BIN))
    np.savez(tmp_path / VALID_NPZ, X=X, y=y, w=np.ones_like(y))
    return Matrices(str(tmp_path), 0.5, 1.0, 500, int(y.sum()), 500, int(y.sum()))


def test_files_are_written_where_the_original_paths_do_not_exist(tmp_path):
    (tmp_path / "a").mkdir()
    mat = _matrices(tmp_path / "a")
    files = pack_matrices(mat)
    assert set(files) == {TRAIN_BIN, VALID_NPZ} and all(len(b) > 0 for b in files.values())
    moved = mat.to_dict() | {"workdir": str(tmp_path / "gone")}
    local = ensure_local_matrices(moved, files, tmp_path / "b")
    assert local.workdir == str(tmp_path / "b") and local.train_rate == mat.train_rate
    assert (tmp_path / "b" / TRAIN_BIN).read_bytes() == files[TRAIN_BIN]
    ds = lgb.Dataset(str(tmp_path / "b" / TRAIN_BIN), params={"verbose": -1}).construct()
    assert ds.num_data() == 500
    assert np.array_equal(np.load(tmp_path / "b" / VALID_NPZ)["X"], np.load(tmp_path / "a" / VALID_NPZ)["X"])


def test_existing_identical_files_are_used_in_place(tmp_path):
    (tmp_path / "a").mkdir()
    mat = _matrices(tmp_path / "a")
    local = ensure_local_matrices(mat.to_dict(), pack_matrices(mat), tmp_path / "elsewhere")
    assert local.workdir == mat.workdir and not (tmp_path / "elsewhere").exists()
