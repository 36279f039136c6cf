"""Where Sudoku splits come from: Shah files and Radcliffe CSV in a data directory, else the cached generator."""
import numpy as np
import pytest

from tasks.sudoku import data
from tasks.sudoku.formats import write_csv, write_shah_npy
from tasks.sudoku.generate import generate
from tasks.sudoku.puzzles import PuzzleSet, grid_string


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENORDER_CACHE", str(tmp_path / "cache"))


def test_generated_sets_grow_by_prefix_and_are_cached(tmp_path):
    a, _ = data.load_split("test", 3, None, progress=False)
    b, src = data.load_split("test", 5, None, progress=False)
    assert "generated" in src and len(b) == 5
    assert (a.givens == b.givens[:3]).all()
    assert (tmp_path / "cache" / "sudoku" / f"easy-seed{data.SPLIT_SEEDS['test']}-v{data.GEN_VERSION}.npz").exists()
    assert a.has_order().all()


def test_shah_files_in_the_data_dir_are_used(tmp_path):
    easy = generate(6, seed=123, kind="easy")
    d = tmp_path / "data" / "sudoku"
    d.mkdir(parents=True)
    write_shah_npy(easy.subset(slice(0, 4)), d / "sudoku-train-data.npy")
    write_shah_npy(easy.subset(slice(4, 6)), d / "sudoku-test-data.npy")
    train, src = data.load_split("train", 3, str(tmp_path / "data"))
    assert "Shah" in src and len(train) == 3
    assert (train.givens == easy.givens[:3]).all() and (train.order == easy.order[:3]).all()


def test_radcliffe_hard_split_excludes_shah_puzzles_and_solvable_ones(tmp_path):
    easy = generate(3, seed=7, kind="easy")
    hard = generate(3, seed=7, kind="hard")
    d = tmp_path / "data"
    d.mkdir()
    write_shah_npy(easy.subset(slice(0, 1)), d / "sudoku-train-data.npy")
    write_shah_npy(easy.subset(slice(1, 2)), d / "sudoku-test-data.npy")
    mixed = PuzzleSet.concat([easy, hard.subset(slice(0, 1))]).subset([0, 3, 1, 2])
    write_csv(mixed, d / "sudoku-3m.csv")
    got, src = data.load_split("hard", 5, str(d))
    assert "Radcliffe" in src
    assert [grid_string(g) for g in got.givens] == [grid_string(hard.givens[0])]
    assert not got.has_order().any()


def test_drop_overlap_removes_train_puzzles():
    ps = generate(3, seed=9, kind="easy")
    left = data.drop_overlap(ps, ps.subset(np.array([1])))
    assert len(left) == 2 and grid_string(ps.givens[1]) not in {grid_string(g) for g in left.givens}
