"""The L&O-NAE-SAT generator, its statistics and its scorer."""
from math import comb

import numpy as np
import pytest

from tasks import get_task_class
from tasks.lo_nae_sat import MASK, LoNaeSat, make_triples, nae, parse_variant


def test_triples_are_distinct_fixed_and_in_range():
    t = make_triples(25, 275)
    assert t.shape == (275, 3) and t.min() >= 0 and t.max() < 25
    assert all(len(set(row)) == 3 for row in t.tolist())
    assert len({tuple(sorted(row)) for row in t.tolist()}) == 275
    assert np.array_equal(t, make_triples(25, 275))          # fixed by the distribution's seed
    assert not np.array_equal(t, make_triples(25, 275, seed=1))
    full = make_triples(6, comb(6, 3))                          # every triple of 6 latents
    assert len({tuple(sorted(r)) for r in full.tolist()}) == 20


def test_nae_semantics():
    triples = np.array([[0, 1, 2]])
    for bits, expected in [((0, 0, 0), 0), ((1, 1, 1), 0), ((0, 0, 1), 1), ((1, 0, 1), 1)]:
        assert nae(np.array(bits), triples).tolist() == [expected]


@pytest.mark.parametrize("variant", ["N25_P275", "N100_P200", "N8_P40"])
def test_generated_data_statistics(variant):
    task = LoNaeSat(variant, "small")
    x = task.sample(np.random.default_rng(0), 4000)
    lat, obs = x[:, :task.n], x[:, task.n:]
    assert abs(lat.mean() - 0.5) < 0.01                        # uniform binary latents
    assert abs(obs.mean() - 0.75) < 0.01                       # naive guess "always 1" scores 75%
    assert abs(task.info()["naive_guess"] - 0.75) < 0.01
    assert (obs == nae(lat, task.triples)).all()


def test_train_batches_are_deterministic_in_step():
    task = LoNaeSat("N25_P275", "smoke")
    a, ma = task.train_batch(3, 8, seed=0)
    b, _ = task.train_batch(3, 8, seed=0)
    c, _ = task.train_batch(4, 8, seed=0)
    assert np.array_equal(a, b) and not np.array_equal(a, c) and ma.all()


def test_scorer():
    task = LoNaeSat("N8_P40", "smoke")
    ex = task.examples(2)[0]
    assert (ex.prompt == MASK).all()
    good = task.score(ex, ex.target)
    assert good.score == 1.0 and good.correct
    bad = ex.target.copy()
    bad[task.n] = 1 - bad[task.n]                              # flip one observation
    s = task.score(ex, bad)
    assert s.score == pytest.approx(1 - 1 / task.p) and not s.correct
    # latents all equal, observations all 1: every observation is wrong
    const = np.concatenate([np.zeros(task.n, int), np.ones(task.p, int)])
    assert task.score(ex, const).score == 0.0
    # a mask or pad token in the output is invalid
    assert task.score(ex, np.full(task.seq_len, MASK)).score == 0.0


def test_given_latents_protocol():
    task = LoNaeSat("N8_P40_g3", "smoke")
    ex = task.examples(1)[0]
    assert np.array_equal(ex.prompt[:3], ex.target[:3]) and (ex.prompt[3:] == MASK).all()
    assert "3 latents given" in task.info()["protocol"]
    plain = LoNaeSat("N8_P40", "smoke")
    # one model for both protocols, the same distribution and the same reference samples
    assert task.model_key() == plain.model_key() == "lo_nae_sat/N8_P40"
    assert np.array_equal(task.triples, plain.triples)
    assert np.array_equal(plain.examples(1)[0].target, ex.target) and (plain.examples(1)[0].prompt == MASK).all()


def test_checks_hide_the_right_positions():
    task = LoNaeSat("N8_P40", "smoke")
    obs_check, lat_check = task.checks(16, seed=0)
    assert (obs_check.prompts[:, task.n:] == MASK).all() and (obs_check.prompts[:, :task.n] != MASK).all()
    assert (lat_check.where.sum(1) == 1).all() and lat_check.where[:, task.n:].sum() == 0


@pytest.mark.parametrize("bad", ["N25", "N2_P1", "N5_P11", "x", "N8_P40_g0", "N8_P40_g8", "N8_P40_g"])
def test_bad_variants(bad):
    with pytest.raises(ValueError):
        parse_variant(bad)
    with pytest.raises(ValueError, match="unknown variant"):
        get_task_class("lo_nae_sat")(bad, "small")


def test_any_n_p_is_buildable():
    task = get_task_class("lo_nae_sat")("N13_P77", "small")
    assert task.seq_len == 90 and task.triples.shape == (77, 3)


def test_latents_shown_rows_mask_every_observation(monkeypatch):
    assert len(LoNaeSat("N8_P40", "smoke").train_batch(0, 8, seed=0)) == 2   # the smoke preset sets none
    scales = {k: dict(v) for k, v in LoNaeSat.SCALES.items()}
    scales["smoke"]["latents_shown"] = 0.25
    monkeypatch.setattr(LoNaeSat, "SCALES", scales)
    task = LoNaeSat("N8_P40", "smoke")
    x, maskable, floor = task.train_batch(0, 8, seed=0)
    assert floor.tolist() == [1.0, 1.0] + [0.0] * 6
    assert not maskable[:2, :8].any() and maskable[:2, 8:].all() and maskable[2:].all()
    assert task.recipe().data == {"latents_shown": 0.25}      # part of the model's identity
