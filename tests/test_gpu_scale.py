"""The gpu scale: each puzzle table near the paper's regime in about one H100-hour, planned in FLOPs.

The plan written in each preset must be the preset: its trainings are the recipes the runner will run (model,
iterations, batch, the task's real sequence length), its FLOPs follow the project's 6 N D convention with the
models' real parameter counts, and each table comes to about one H100-hour at the stated throughput."""
from __future__ import annotations

import pytest

from harness.figure.flops import non_embedding_params, training_flops
from harness.models.transformer import PRESETS, ModelConfig, build_model
from harness.run import cli as run
from tasks.lo_nae_sat import LoNaeSat
from tasks.puzzle_presets import GPU_FLOPS_PER_S, NON_EMBEDDING_PARAMS
from tasks.sudoku.task import ARM_LEN, Sudoku
from tasks.zebra.task import Zebra


def test_the_parameter_counts_of_the_plan_are_the_models():
    assert set(NON_EMBEDDING_PARAMS) == set(PRESETS)
    for name, shape in PRESETS.items():
        cfg = ModelConfig(vocab_size=11, seq_len=81, **shape)
        assert NON_EMBEDDING_PARAMS[name] == non_embedding_params(cfg)
    assert build_model("6M", 11, 81).num_params(non_embedding=True) == NON_EMBEDDING_PARAMS["6M"]


def _check_part(part, recipe, seq_len, runs):
    assert (part["model"], part["iters"], part["batch_size"], part["seq_len"], part["runs"]) == (
        recipe.model_preset, recipe.train["iters"], recipe.train["batch_size"], seq_len, runs)
    assert part["flops"] == training_flops(NON_EMBEDDING_PARAMS[part["model"]], part["tokens"])


@pytest.mark.parametrize("task", [Sudoku("9x9", "gpu"), Zebra("3-6", "gpu")], ids=["sudoku", "zebra"])
def test_puzzle_table_plans_are_their_recipes(task):
    plan = task.SCALES["gpu"]["plan"]
    arm_len = ARM_LEN if task.name == "sudoku" else task.layout.arm_len
    _check_part(plan["parts"]["mdm"], task.recipe("mdm"), task.seq_len, 1)
    _check_part(plan["parts"]["arms"], task.recipe("arm"), arm_len, len(task.arm_orders))
    _about_one_hour(plan)


def test_lo_nae_sat_plan_is_its_recipe():
    variants = LoNaeSat.variants("gpu")
    models = {LoNaeSat(v, "gpu").model_key() for v in variants}
    t = LoNaeSat(variants[0], "gpu")
    plan = LoNaeSat.SCALES["gpu"]["plan"]
    _check_part(plan["parts"]["mdms"], t.recipe("mdm"), t.seq_len, len(models))
    assert {LoNaeSat(v, "gpu").seq_len for v in variants} == {300}    # the paper's N + P
    _about_one_hour(plan)


def _about_one_hour(plan):
    total = sum(p["flops"] for p in plan["parts"].values())
    assert plan["flops"] == total and plan["assumed_flops_per_s"] == GPU_FLOPS_PER_S
    assert 0.5 <= total / GPU_FLOPS_PER_S / 3600 <= 1.25
    assert plan["paper_flops"] > total


def test_the_runner_takes_the_gpu_scale_and_text_tasks_say_they_have_none(tmp_path, capsys):
    assert run.parse_args(["--task", "sudoku", "--scale", "gpu"]).scale == "gpu"
    assert run.main(["--task", "rocstories", "--scale", "gpu", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "gpu" in err and len(err.strip().splitlines()) == 1
