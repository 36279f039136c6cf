"""Tests of Figure 2 (bottom right): masking protocol, error and exact posterior, snapshots, run and report."""
import itertools
import json
import math

import numpy as np
import pytest
import torch

from harness.figure import lo_imbalance as F
from harness.figure.common import figure_results
from harness.models import build_model
from harness.report.records import load_results
from harness.report.lo_imbalance import render_lo_imbalance
from harness.training.trainer import TrainConfig, load_checkpoint, snapshot_path, train
from tasks.lo_nae_sat import MASK, PAD, LoNaeSat, make_triples, nae

torch.set_num_threads(1)


class FixedLogits(torch.nn.Module):
    """A toy 'model': the same logits [V] at every position; records its last input."""

    def __init__(self, logits):
        super().__init__()
        self.logits, self.seen = torch.tensor(logits, dtype=torch.float32), []

    def forward(self, idx):
        self.seen.append(idx.clone())
        return self.logits.expand(*idx.shape, len(self.logits)).clone()


# ------------------------------------------------------------------------------------------ protocol

def test_mask_positions_masks_exactly_l_latents_and_k_observations():
    rng = np.random.default_rng(0)
    m = F.mask_positions(rng, 500, 20, 280, 11, 154)
    assert m.shape == (500, 300)
    assert (m[:, :20].sum(1) == 11).all() and (m[:, 20:].sum(1) == 154).all()
    assert m[:, :20].any(0).all() and m[:, 20:].any(0).all()  # every position gets masked somewhere
    with pytest.raises(ValueError, match="cannot mask"):
        F.mask_positions(rng, 2, 20, 280, 21, 0)


def test_draw_is_deterministic_and_uses_l_times_p_over_n_observations():
    task = LoNaeSat("N20_P280", "smoke")
    x0, m = F.draw(task, 11, 8)
    x0b, mb = F.draw(task, 11, 8)
    assert np.array_equal(x0, x0b) and np.array_equal(m, mb)
    assert F.n_obs_masked(task, 11) == 154 and (m[:, 20:].sum(1) == 154).all()
    assert np.array_equal(x0[:, 20:], nae(x0[:, :20], task.triples))
    assert not np.array_equal(F.draw(task, 12, 8)[0], x0)


def test_error_of_two_fixed_models_equals_hand_value_and_padding_is_never_masked():
    task = LoNaeSat("N20_P280", "smoke")
    spec = dict(F.SCALES["smoke"], repeats=5, pad_to=320, exact_max_l=0)
    # values 0/1 get p = (1/4, 3/4) and (1/2, 1/2); the PAD and MASK logits must be renormalised away
    early, proxy = FixedLogits([0.0, math.log(3.0), 9.0, -4.0]), FixedLogits([1.0, 1.0, -7.0, 5.0])
    rec = F.measure_l(early, proxy, task, spec, 3, "cpu")
    want = math.log(0.5) ** 2 + math.log(1.5) ** 2
    assert rec["err_latent_mean"] == pytest.approx(want) and rec["err_obs_mean"] == pytest.approx(want)
    assert rec["err_latent_se"] == pytest.approx(0.0, abs=1e-12)
    assert rec["p1_early_latent_mean"] == pytest.approx(0.75) and rec["p1_proxy_obs_mean"] == pytest.approx(0.5)
    x0, masked = F.draw(task, 3, 5)
    assert rec["count_pos"] == masked.sum(0).tolist()
    assert all((v is None) == (c == 0) for v, c in zip(rec["err_pos"], rec["count_pos"]))
    assert all(v == pytest.approx(want) for v in rec["err_pos"] if v is not None)
    seen = torch.cat(early.seen)
    assert seen.shape == (5, 320) and (seen[:, 300:] == PAD).all()
    assert torch.equal(seen[:, :300] == MASK, torch.from_numpy(masked))
    assert ((seen[:, :20] == MASK).sum(1) == 3).all() and ((seen[:, 20:300] == MASK).sum(1) == 42).all()
    assert torch.equal(seen, torch.cat(proxy.seen))  # both models see the same input


# ------------------------------------------------------------------------------------- exact posterior

def brute_force_posterior(x0, masked, triples, n):
    """P(x_j = 1 | visible) by listing every latent vector consistent with the visible tokens."""
    fits = []
    for lat in itertools.product([0, 1], repeat=n):
        x = np.concatenate([lat, nae(np.array(lat), triples)])
        if np.array_equal(x[~masked], x0[~masked]):
            fits.append(x)
    return np.mean(fits, axis=0), len(fits)


@pytest.mark.parametrize("l", [1, 3, 5])
def test_exact_posterior_matches_brute_force(l):
    n, p = 6, 8
    triples = make_triples(n, p, seed=3)
    rng = np.random.default_rng(l)
    lat = rng.integers(0, 2, size=(7, n))
    x0 = np.concatenate([lat, nae(lat, triples)], axis=1)
    masked = F.mask_positions(rng, 7, n, p, l, 3)
    for max_elems in (1 << 20, 5):  # one chunk, and many small chunks
        prob, sols = F.exact_posterior(torch.from_numpy(x0), torch.from_numpy(masked), torch.from_numpy(triples),
                                       n, max_elems=max_elems)
        for r in range(7):
            want, count = brute_force_posterior(x0[r], masked[r], triples, n)
            assert sols[r] == count
            np.testing.assert_allclose(prob[r].numpy(), want, atol=1e-12)


def test_kl_to_exact_hand_values():
    p_true = torch.tensor([[1.0, 0.5]])
    lp = torch.log(torch.tensor([[[0.25, 0.75], [0.25, 0.75]]], dtype=torch.float64))
    kl = F.kl_to_exact(p_true, lp)
    assert kl[0, 0] == pytest.approx(-math.log(0.75))
    assert kl[0, 1] == pytest.approx(0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75))


# ------------------------------------------------------------------------------------------ snapshots

def _toy_train(tmp, snapshot_steps=(), ckpt_every=3, eval_fn=None):
    torch.manual_seed(0)
    model = build_model("0.2M", 4, 12)
    cfg = TrainConfig(iters=6, batch_size=4, lr=1e-2, warmup=1, ckpt_every=ckpt_every, log_every=1)

    def batch_fn(step):
        g = torch.Generator().manual_seed(step)
        return torch.randint(0, 2, (4, 12), generator=g), torch.ones(4, 12, dtype=torch.bool)
    train(model, batch_fn, cfg, tmp, 3, progress=False, eval_fn=eval_fn, snapshot_steps=snapshot_steps)
    return model


def test_snapshot_steps_save_the_weights_of_that_step_and_change_nothing_else(tmp_path):
    states = {}

    def capture(model):
        states[len(states)] = {k: v.clone() for k, v in model.state_dict().items()}
        return {}
    model = _toy_train(tmp_path / "a", snapshot_steps=[3], eval_fn=capture)
    snap, meta = load_checkpoint(snapshot_path(tmp_path / "a", 3))
    assert meta["step"] == 3 and meta["snapshot"]
    for k, v in snap.state_dict().items():
        assert torch.equal(v, states[0][k])  # the weights after step 3 (checkpoint 0 is at step 3)
    plain = _toy_train(tmp_path / "b", eval_fn=capture)
    for (k, v), (_, w) in zip(model.state_dict().items(), plain.state_dict().items()):
        assert torch.equal(v, w)
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)
    assert set(a) == set(b) and a["train_config"] == b["train_config"]
    assert not (tmp_path / "b" / "snapshot_step3.pt").exists()
    with pytest.raises(ValueError, match="snapshot_steps"):
        _toy_train(tmp_path / "c", snapshot_steps=[7])


# ----------------------------------------------------------------------------------------- run, report

def test_smoke_run_end_to_end_and_resume(tmp_path):
    kw = dict(results_dir=tmp_path / "res", ckpt_dir=tmp_path / "ck", device="cpu", progress=False)
    [path] = F.run("smoke", **kw)
    lines = path.read_text().splitlines()
    header, recs = json.loads(lines[0]), [json.loads(x) for x in lines[1:]]
    assert [r["id"] for r in recs] == [f"l{l}" for l in range(1, 20)]
    info = header["figure_info"]
    assert info["early"]["iters"] == 4 and info["proxy"]["iters"] == 12
    assert set(info["proxy"]["checks"]) == {"obs_given_latents_acc", "latent_given_rest_acc"}
    r11 = recs[10]
    assert r11["l"] == 11 and r11["n_obs_masked"] == 154 and len(r11["err_pos"]) == 300
    assert sum(r11["count_pos"]) == 6 * (11 + 154)
    assert recs[9]["exact"] and "kl_proxy_obs_mean" in recs[9] and not r11["exact"]
    # a crash after 12 records: the rerun finishes the rest, without duplicates and without retraining
    ckpt = F.run_dir(tmp_path / "ck", "smoke", F.SCALES["smoke"]) / "ckpt.pt"
    stamp = ckpt.stat().st_mtime_ns
    path.write_text("\n".join(lines[:13]) + "\n")
    F.run("smoke", **kw)
    assert ckpt.stat().st_mtime_ns == stamp
    ids = [json.loads(x).get("id") for x in path.read_text().splitlines() if '"example"' in x]
    assert sorted(ids) == sorted(f"l{l}" for l in range(1, 20))
    assert [json.loads(x) for x in path.read_text().splitlines() if '"example"' in x][-1] == recs[-1]
    # complete: a rerun needs no model at all (the checkpoints may be gone) and trains none
    import shutil
    shutil.rmtree(tmp_path / "ck")
    assert F.run("smoke", **kw) == [path] and not (tmp_path / "ck").exists()


def test_paper_preset_refuses_cpu_and_bad_arguments(tmp_path):
    kw = dict(results_dir=tmp_path, ckpt_dir=tmp_path)
    with pytest.raises(ValueError, match="GPU"):
        F.run("paper", device="cpu", **kw)
    with pytest.raises(ValueError, match="unknown scale"):
        F.run("huge", **kw)
    assert F.SCALES["paper"]["pad_to"] == 512 and F.SCALES["paper"]["model"] == "19M"
    assert F.SCALES["paper"]["train"]["iters"] == 50000 and F.SCALES["paper"]["early_step"] == 2000


def _synthetic(tmp_path, latent_higher: bool):
    rf = figure_results(tmp_path / "res", "small", F.NAME, "N20_P280", "early_vs_proxy",
                        identity={"model": "0.2M", "early_step": 100}, n_planned=3, device="cpu",
                        info={"context": 300, "early": {"iters": 100, "params": 2e5, "checks": {}},
                              "proxy": {"iters": 1000, "params": 2e5,
                                        "checks": {"obs_given_latents_acc": 0.99, "latent_given_rest_acc": 0.9}}})
    recs = []
    for l in (10, 11, 12):
        hi, lo = (0.5, 0.1) if latent_higher else (0.1, 0.5)
        pos = [hi] * 20 + [lo] * 280
        pos[25] = None
        rec = {"id": f"l{l}", "l": l, "n_obs_masked": 14 * l, "repeats": 50, "N": 20, "P": 280,
               "err_pos": pos, "count_pos": [1] * 300, "err_latent_mean": hi, "err_latent_se": 0.01,
               "err_obs_mean": lo, "err_obs_se": 0.01, "exact": l <= 11}
        if l <= 11:
            rec.update({f"kl_{m}_{p}_{s}": 0.1 for m in ("early", "proxy") for p in ("latent", "obs")
                        for s in ("mean", "se")})
            rec.update(kl_early_pos=pos, kl_proxy_pos=pos, determined_latent_frac=1.0, determined_obs_frac=0.5)
        recs.append(rec)
    rf.append(recs)


@pytest.mark.parametrize("latent_higher", [True, False])
def test_renderer_on_synthetic_records(tmp_path, latent_higher):
    _synthetic(tmp_path, latent_higher)
    out = tmp_path / "rep"
    out.mkdir()
    r = render_lo_imbalance(load_results(tmp_path / "res"), out)
    assert r.title.startswith("Figure 2 (bottom right)")
    assert r.figures == ["fig2_lo_imbalance_small.png", "fig2_lo_imbalance_by_l_small.png"]
    assert all((out / f).stat().st_size > 0 for f in r.figures)
    assert ("the paper’s claim holds" in r.markdown) == latent_higher
    assert f"for {3 if latent_higher else 0} of 3 values of l" in r.markdown
    assert "Scale `small`" in r.markdown and "not the paper's numbers" in r.markdown
    assert "section 3.3 text" in r.markdown  # the shading inconsistency


def test_renderer_without_records_returns_none(tmp_path):
    (tmp_path / "res").mkdir()
    assert render_lo_imbalance(load_results(tmp_path / "res"), tmp_path) is None


def test_figure_trains_on_the_plain_schedule_whatever_the_task_preset_adds(tmp_path, monkeypatch):
    scales = {k: dict(v) for k, v in LoNaeSat.SCALES.items()}
    scales["smoke"]["latents_shown"] = 0.5              # Table 1's small preset sets this; the figure must not
    monkeypatch.setattr(LoNaeSat, "SCALES", scales)
    task = LoNaeSat("N20_P280", "smoke")
    assert len(task.train_batch(0, 8, seed=0)) == 3
    seen = {}

    def fake_train(model, batch_fn, cfg, *a, **kw):
        seen["batch"] = batch_fn(0)
        raise RuntimeError("stop")

    monkeypatch.setattr(F, "train", fake_train)
    with pytest.raises(RuntimeError, match="stop"):
        F.train_models(task, F.SCALES["smoke"], tmp_path, "cpu", False)
    x, maskable = seen["batch"]
    assert maskable.all() and x.shape == maskable.shape
    with pytest.raises(ValueError, match="latents_shown"):
        task.train_batch(0, 8, seed=0, latents_shown=1.5)
