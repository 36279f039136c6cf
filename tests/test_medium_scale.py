"""The medium scale and the learning curve every trained model carries.

``medium`` is defined where more compute on a CPU answers a question the small scale leaves open (the Sudoku
tables and their ARM baselines, Table 1); the main job runs every other part at a preset that part has
(``harness.run.scales``)."""
from __future__ import annotations

import importlib
import json

import pytest

from harness.figure.__main__ import FIGURES
from harness.models.transformer import build_model
from harness.run import cli as run
from harness.run.scales import PART_TASKS, PARTS, SCALES, main as scales_main, part_scales
from tasks import get_task_class
from tasks.base import SCALE_NAMES, in_scale_order
from tasks.lo_nae_sat import LoNaeSat
from tasks.sudoku.task import SCALES as SUDOKU
from tasks.sudoku.task import Sudoku


def _presets(name: str) -> dict:
    if name in FIGURES:
        return importlib.import_module(FIGURES[name]).SCALES
    return get_task_class(name).SCALES


@pytest.mark.parametrize("scale", SCALES)
def test_every_part_of_the_main_job_runs_at_a_preset_its_tasks_have(scale):
    parts = part_scales(scale)
    assert set(parts) == set(PARTS) == set(PART_TASKS)
    for part, preset in parts.items():
        for name in PART_TASKS[part]:
            assert preset in _presets(name), f"{scale}: {part} runs {name} at {preset}, which it lacks"


def test_medium_runs_the_sudoku_tables_and_table_1_at_medium_and_the_rest_at_small():
    assert part_scales("medium") == {"sudoku": "medium", "lo": "medium", "zebra": "small", "text": "small",
                                     "figure": "small"}
    assert part_scales("small") == {p: "small" for p in PARTS}


def test_the_scale_list_prints_shell_lines_and_refuses_an_unknown_scale(capsys):
    assert scales_main(["medium"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{p}_scale={s}" for p, s in part_scales("medium").items()]
    assert scales_main(["huge"]) == 2
    err = capsys.readouterr().err
    assert "huge" in err and "medium" in err and len(err.strip().splitlines()) == 1


def test_task_presets_are_listed_in_scale_order_and_only_known_scales_are_accepted():
    for name in ("sudoku", "sudoku_hard", "lo_nae_sat"):
        names = list(get_task_class(name).SCALES)
        assert names == [s for s in SCALE_NAMES if s in names]
    assert list(in_scale_order({"paper": 1, "small": 2})) == ["small", "paper"]
    with pytest.raises(ValueError, match="huge"):
        in_scale_order({"small": 1, "huge": 2})


def test_medium_sudoku_is_the_small_tables_with_more_training():
    small, medium = SUDOKU["small"], SUDOKU["medium"]
    for key in ("variants", "data", "augment", "train_reveal"):     # the same puzzles and levels: comparable
        assert medium[key] == small[key]
    assert medium["mdm"]["model"] == small["mdm"]["model"]
    assert medium["mdm"]["train"]["iters"] > small["mdm"]["train"]["iters"]
    assert medium["mdm"]["decode"] == small["mdm"]["decode"] and medium["mdm"]["n_eval"] >= 500

    def params(preset):
        return build_model(preset["model"], 11, 243, causal=True).num_params()
    assert params(medium["arm"]) > params(small["arm"])
    assert medium["arm"]["train"]["iters"] * medium["arm"]["train"]["batch_size"] > \
        small["arm"]["train"]["iters"] * small["arm"]["train"]["batch_size"]
    t = Sudoku("9x9+8", "medium")
    assert t.recipe("arm").model_preset == medium["arm"]["model"]


def test_medium_lo_nae_sat_is_the_small_family_with_a_larger_model():
    small, medium = LoNaeSat.SCALES["small"], LoNaeSat.SCALES["medium"]
    assert medium["variants"] == small["variants"] and medium["latents_shown"] == small["latents_shown"]
    assert medium["decode"] == small["decode"] and medium["n_eval"] >= 500
    assert medium["train"]["iters"] == small["train"]["iters"]

    def params(preset):
        return build_model(preset["model"], 4, 32).num_params()
    assert params(medium) > 3 * params(small)
    assert LoNaeSat(medium["variants"][0], "medium").recipe("mdm").model_preset == medium["model"]


def test_the_runner_takes_medium_and_a_task_without_it_says_so_in_one_line(tmp_path, capsys):
    assert run.parse_args(["--task", "sudoku", "--scale", "medium"]).scale == "medium"
    assert run.main(["--task", "zebra", "--scale", "medium", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "medium" in err and "small" in err and len(err.strip().splitlines()) == 1


def test_a_trained_model_carries_its_learning_curve_into_the_results_header(tmp_path):
    args = ["--task", "sudoku", "--scale", "smoke", "--variant", "9x9", "--sampler", "margin,arm_solver",
            "--results-dir", str(tmp_path / "r"), "--ckpt-dir", str(tmp_path / "c"), "--no-progress",
            "--threads", "1"]
    assert run.main(args) == 0
    files = sorted((tmp_path / "r").rglob("*.jsonl"))
    assert len(files) == 2
    for f in files:
        header = json.loads(f.read_text().splitlines()[0])
        curve, checks = header["model"]["learning_curve"], header["task_info"]["learning_check"]
        assert curve and curve[-1]["step"] == header["model"]["train_iters"]
        assert set(curve[-1]) - {"step"} == set(checks)          # the same checks as the table's learning check
        assert all(0.0 <= curve[-1][name] <= 1.0 for name in checks)
        assert header["model"]["learning_curve_variant"] == "9x9"
