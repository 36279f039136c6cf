"""Tests of harness.training.trainer: losses, learning on a toy task, checkpoints and exact resume."""
import math

import pytest
from conftest import HostilePayload
import torch

from harness.models import build_model
from harness.training.trainer import (TrainConfig, arm_loss, is_finished, load_checkpoint, mdm_loss, step_generator,
                              train)

VOCAB, MASK, L = 6, 5, 16  # data tokens 0..3, 4 unused, 5 = mask


def copy_batch_fn(batch_size, seed=0):
    """Toy task: the second half copies the first half. The first half is a prompt (not maskable)."""
    def batch_fn(step):
        g = torch.Generator().manual_seed(seed * 100_003 + step)
        first = torch.randint(0, 4, (batch_size, L // 2), generator=g)
        x = torch.cat([first, first], dim=1)
        mask = torch.zeros(batch_size, L, dtype=torch.bool)
        mask[:, L // 2:] = True
        return x, mask
    return batch_fn


class Spy(torch.nn.Module):
    """Records its input; returns fixed logits from a function of the clean data."""

    def __init__(self, logits_fn):
        super().__init__()
        self.logits_fn, self.seen = logits_fn, None

    def forward(self, idx):
        self.seen = idx.clone()
        return self.logits_fn(idx)


def test_mdm_loss_masks_only_maskable_positions():
    x0 = torch.randint(0, 4, (64, L))
    maskable = torch.rand(64, L) < 0.5
    spy = Spy(lambda idx: torch.zeros(*idx.shape, VOCAB))
    mdm_loss(spy, x0, maskable, MASK, generator=torch.Generator().manual_seed(1))
    masked = spy.seen == MASK
    assert masked.any()
    assert not (masked & ~maskable).any()
    assert torch.equal(spy.seen[~masked], x0[~masked])
    # t = 1 masks every maskable position
    mdm_loss(spy, x0, maskable, MASK, t=torch.ones(64))
    assert torch.equal(spy.seen == MASK, maskable)


def test_mdm_loss_never_scores_non_maskable_positions():
    x0 = torch.randint(0, 4, (32, L))
    maskable = torch.zeros(32, L, dtype=torch.bool)
    maskable[:, ::2] = True
    # perfect predictions on maskable positions, confidently wrong ones elsewhere
    def logits_fn(idx):
        good = 50.0 * torch.nn.functional.one_hot(x0, VOCAB).float()
        bad = 50.0 * torch.nn.functional.one_hot((x0 + 1) % 4, VOCAB).float()
        return torch.where(maskable[..., None], good, bad)
    loss = mdm_loss(Spy(logits_fn), x0, maskable, MASK, generator=torch.Generator().manual_seed(0))
    assert loss.item() < 1e-6


def test_mdm_loss_value_with_uniform_logits():
    x0 = torch.randint(0, 4, (8, L))
    maskable = torch.ones(8, L, dtype=torch.bool)
    maskable[:, :4] = False
    spy = Spy(lambda idx: torch.zeros(*idx.shape, VOCAB))
    t = torch.full((8,), 0.5)
    loss = mdm_loss(spy, x0, maskable, MASK, t=t, generator=torch.Generator().manual_seed(3))
    n_masked = (spy.seen == MASK).sum(1).float()
    expected = (n_masked / 0.5 / 12 * math.log(VOCAB)).mean()
    assert torch.allclose(loss, expected)
    assert torch.allclose(mdm_loss(spy, x0, maskable, MASK, t=torch.ones(8)), torch.tensor(math.log(VOCAB)))


def test_stratified_t_covers_the_unit_interval():
    spy = Spy(lambda idx: torch.zeros(*idx.shape, VOCAB))
    x0 = torch.zeros(100, 50, dtype=torch.long)
    mdm_loss(spy, x0, torch.ones_like(x0, dtype=torch.bool), MASK, generator=torch.Generator().manual_seed(0))
    frac = (spy.seen == MASK).float().mean(1).sort().values
    # one t per 1/100 stratum: the masked fractions spread evenly over [0, 1]
    assert frac[:10].mean() < 0.15 and frac[-10:].mean() > 0.85


def test_arm_loss_counts_only_loss_mask_targets():
    x = torch.randint(0, 4, (4, L))
    loss_mask = torch.zeros(4, L, dtype=torch.bool)
    loss_mask[:, L // 2:] = True
    def logits_fn(idx):  # position i predicts x[i+1] perfectly in the second half only
        nxt = torch.cat([x[:, 1:], x[:, :1]], dim=1)
        good = 50.0 * torch.nn.functional.one_hot(nxt, VOCAB).float()
        bad = torch.zeros_like(good)
        cond = torch.arange(L)[None, :, None] >= L // 2 - 1
        return torch.where(cond, good, bad)
    assert arm_loss(Spy(logits_fn), x, loss_mask).item() < 1e-6
    assert math.isclose(arm_loss(Spy(lambda i: torch.zeros(*i.shape, VOCAB)), x, loss_mask).item(),
                        math.log(VOCAB), rel_tol=1e-6)


def _toy_train(tmp_path, objective, iters=50):
    torch.manual_seed(0)
    model = build_model("0.2M", VOCAB, L, causal=objective == "arm")
    cfg = TrainConfig(objective=objective, iters=iters, lr=3e-3, min_lr=3e-4, warmup=5, log_every=5,
                      ckpt_every=0)
    summary = train(model, copy_batch_fn(64), cfg, tmp_path, mask_id=MASK if objective == "mdm" else None,
                    progress=False)
    _, ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    return summary, ckpt["loss_history"]


def test_mdm_learns_the_copy_task(tmp_path):
    summary, history = _toy_train(tmp_path, "mdm")
    first = history[0][1]
    assert summary["final_loss"] < 0.5 * first, (first, summary["final_loss"], history)
    assert summary["iters"] == 50 and summary["resumed_from"] is None


def test_arm_learns_the_copy_task(tmp_path):
    summary, history = _toy_train(tmp_path, "arm")
    assert summary["final_loss"] < 0.5 * history[0][1], history


def _resume_setup(tmp_path, name, crash_at=None, amp="off"):
    torch.manual_seed(123)
    model = build_model("0.2M", VOCAB, L, dropout=0.1)  # dropout: the global RNG must resume exactly too
    cfg = TrainConfig(iters=12, batch_size=8, warmup=3, ckpt_every=4, log_every=3, lr=3e-3, amp=amp)
    inner = copy_batch_fn(8)

    def batch_fn(step):
        if crash_at is not None and step == crash_at:
            raise KeyboardInterrupt("simulated crash")
        return inner(step)
    return model, cfg, batch_fn, tmp_path / name


def test_resume_is_bitwise_exact(tmp_path):
    evals = []
    def eval_fn(m):  # consumes global randomness: must not perturb training
        torch.rand(10)
        evals.append(1)
        return {"n": len(evals)}

    model_a, cfg, fn, dir_a = _resume_setup(tmp_path, "a")
    sum_a = train(model_a, fn, cfg, dir_a, MASK, progress=False)

    model_b, cfg, crashing, dir_b = _resume_setup(tmp_path, "b", crash_at=7)
    with pytest.raises(KeyboardInterrupt):
        train(model_b, crashing, cfg, dir_b, MASK, progress=False, eval_fn=eval_fn)
    assert not is_finished(dir_b)
    torch.manual_seed(999)  # a fresh process would build different initial weights; they must be replaced
    model_b2, cfg, fn, _ = _resume_setup(tmp_path, "b")
    with torch.no_grad():
        for p in model_b2.parameters():
            p.add_(torch.randn_like(p))
    sum_b = train(model_b2, fn, cfg, dir_b, MASK, progress=False, eval_fn=eval_fn)
    assert sum_b["resumed_from"] == 4 and sum_b["iters"] == 12

    sa, sb = model_a.state_dict(), model_b2.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    _, ck_a = load_checkpoint(dir_a / "ckpt.pt")
    _, ck_b = load_checkpoint(dir_b / "ckpt.pt")
    steps = [s for s, _ in ck_b["loss_history"]]
    assert steps == sorted(set(steps)) == [3, 6, 9, 12]
    assert ck_a["loss_history"] == ck_b["loss_history"]
    assert [e["step"] for e in ck_b["evals"]] == [4, 8, 12]
    assert ck_b["finished"] and is_finished(dir_b)
    assert sum_a["final_loss"] == sum_b["final_loss"]


def test_finished_run_returns_immediately_and_loads_weights(tmp_path):
    model, cfg, fn, d = _resume_setup(tmp_path, "r")
    train(model, fn, cfg, d, MASK, progress=False)
    calls = []
    model2, cfg, _, _ = _resume_setup(tmp_path, "r")
    summary = train(model2, lambda s: calls.append(s), cfg, d, MASK, progress=False)
    assert calls == [] and summary["resumed_from"] == 12
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k])
    assert not model2.training


def test_mismatched_config_raises(tmp_path):
    model, cfg, crashing, d = _resume_setup(tmp_path, "m", crash_at=5)
    with pytest.raises(KeyboardInterrupt):
        train(model, crashing, cfg, d, MASK, progress=False)
    model, cfg, fn, d = _resume_setup(tmp_path, "m")
    cfg.lr = 1e-2
    with pytest.raises(ValueError, match=r"run dir .*m holds a checkpoint with a different config \(lr\); "
                                         r"delete it or use another run dir"):
        train(model, fn, cfg, d, MASK, progress=False)
    cfg.lr = 3e-3
    bigger = build_model("0.8M", VOCAB, L, dropout=0.1)
    with pytest.raises(ValueError, match="model.d_ff"):
        train(bigger, fn, cfg, d, MASK, progress=False)


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="garbage.pt is not a readable checkpoint") as err:
        load_checkpoint(garbage)
    assert "\n" not in str(err.value) and "delete it to retrain" in str(err.value)
    torch.save({"model_config": {"vocab_size": 3}}, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match="does not match"):
        load_checkpoint(tmp_path / "partial.pt")
    # a state dict that does not fit its config
    model = build_model("0.2M", VOCAB, L)
    cfg = build_model("0.8M", VOCAB, L).cfg.to_dict()
    torch.save({"model_config": cfg, "model": model.state_dict()}, tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match="does not match"):
        load_checkpoint(tmp_path / "wrong.pt")
    # train() refuses a garbage checkpoint with a one-line message too
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "ckpt.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="unreadable checkpoint.*delete it or use another run dir"):
        train(model, copy_batch_fn(4), TrainConfig(iters=2), tmp_path / "run", MASK, progress=False)
    assert not is_finished(tmp_path / "run") and not is_finished(tmp_path / "nothing")


def test_load_checkpoint_round_trip_and_atomic_dir(tmp_path):
    model, cfg, fn, d = _resume_setup(tmp_path, "rt")
    train(model, fn, cfg, d, MASK, meta={"task": "copy"}, progress=False)
    loaded, ckpt = load_checkpoint(d / "ckpt.pt")
    assert not loaded.training and "optimizer" not in ckpt
    assert ckpt["meta"] == {"task": "copy"} and ckpt["step"] == 12 and ckpt["finished"]
    assert ckpt["train_config"] == cfg.to_dict()
    x = torch.randint(0, 4, (2, L))
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert sorted(p.name for p in d.iterdir()) == ["ckpt.pt"]  # no temp files left behind


def test_bf16_training_on_cpu(tmp_path):
    model, cfg, fn, d = _resume_setup(tmp_path, "bf", amp="bf16")
    summary = train(model, fn, cfg, d, MASK, progress=False)
    assert math.isfinite(summary["final_loss"]) and summary["tokens_per_s"] > 0
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_arm_needs_causal_and_mdm_needs_mask_id(tmp_path):
    with pytest.raises(ValueError, match="causal"):
        train(build_model("0.2M", VOCAB, L), copy_batch_fn(4), TrainConfig(objective="arm", iters=1),
              tmp_path / "x", None, progress=False)
    with pytest.raises(ValueError, match="mask_id"):
        train(build_model("0.2M", VOCAB, L), copy_batch_fn(4), TrainConfig(iters=1), tmp_path / "y", None,
              progress=False)


def test_step_generator_depends_on_seed_and_step():
    draw = lambda seed, step: torch.rand(4, generator=step_generator(seed, step))
    assert torch.equal(draw(0, 5), draw(0, 5))
    assert not torch.equal(draw(0, 5), draw(0, 6))
    assert not torch.equal(draw(0, 5), draw(1, 5))


def test_micro_batches_accumulate_the_same_gradient(tmp_path):
    # ARM loss with every target scored is a mean over equal chunks: one step with 2 or 4 micro-batches
    # moves the weights as the plain step does (up to float summation order).
    states = []
    for k in (1, 2, 4):
        torch.manual_seed(7)
        model = build_model("0.2M", VOCAB, L, causal=True)
        cfg = TrainConfig(objective="arm", iters=3, batch_size=8, warmup=1, lr=3e-3, log_every=1,
                          micro_batches=k, amp="off")  # one precision for all three (auto may differ per shape)
        fn = copy_batch_fn(8)
        train(model, lambda s: (fn(s)[0], torch.ones(8, L, dtype=torch.bool)), cfg, tmp_path / f"k{k}", None,
              progress=False)
        states.append(model.state_dict())
    for other in states[1:]:
        for name, v in states[0].items():
            assert torch.allclose(v, other[name], atol=1e-5), name
    with pytest.raises(ValueError, match="micro_batches"):
        TrainConfig(micro_batches=0)


def test_checkpoint_written_before_a_new_knob_still_resumes(tmp_path):
    model, cfg, crashing, d = _resume_setup(tmp_path, "old", crash_at=5)
    with pytest.raises(KeyboardInterrupt):
        train(model, crashing, cfg, d, MASK, progress=False)
    ck = torch.load(d / "ckpt.pt", weights_only=False)
    del ck["train_config"]["micro_batches"]  # as written by a version without the knob
    torch.save(ck, d / "ckpt.pt")
    model, cfg, fn, _ = _resume_setup(tmp_path, "old")
    assert train(model, fn, cfg, d, MASK, progress=False)["resumed_from"] == 4


def test_t_floor_masks_every_maskable_position_of_its_rows():
    torch.manual_seed(0)
    spy = Spy(lambda idx: torch.zeros(*idx.shape, VOCAB))
    x0 = torch.randint(0, 4, (6, L))
    maskable = torch.ones_like(x0, dtype=torch.bool)
    maskable[:, :3] = False
    floor = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    t = torch.full((6,), 0.1)
    loss = mdm_loss(spy, x0, maskable, MASK, generator=torch.Generator().manual_seed(1), t=t, t_floor=floor)
    seen = spy.seen
    assert (seen[:2, 3:] == MASK).all() and (seen[:, :3] == x0[:, :3]).all()  # floor 1: all maskable masked
    assert (seen[2:, 3:] == MASK).float().mean() < 0.5                          # the rest keep t = 0.1
    # rows at t = 1 weigh CE / 1: uniform logits give log(V) per maskable position
    assert math.isfinite(loss.item())


def test_a_batch_with_t_floor_trains_and_resumes(tmp_path):
    def fn(step):
        x, m = copy_batch_fn(4)(step)
        return x, m, torch.tensor([1.0, 0.0, 0.0, 0.0])
    model = build_model("0.2M", VOCAB, L, seed=0)
    summary = train(model, fn, TrainConfig(iters=3, ckpt_every=0, log_every=1, warmup=0), tmp_path / "r", MASK,
                    progress=False)
    assert summary["iters"] == 3 and math.isfinite(summary["final_loss"])
    with pytest.raises(ValueError, match="t_floor only applies"):
        train(build_model("0.2M", VOCAB, L, causal=True, seed=0), fn, TrainConfig(objective="arm", iters=1),
              tmp_path / "a", None, progress=False)


def test_a_hostile_checkpoint_is_refused_and_runs_nothing(tmp_path):
    import torch as _torch
    from harness.training.trainer import is_finished, load_checkpoint
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    _torch.save({"model_config": {}, "model": {}, "finished": True, "evil": HostilePayload(marker)}, run / "ckpt.pt")
    with pytest.raises(ValueError, match="more than tensors and plain data"):
        load_checkpoint(run / "ckpt.pt")
    assert not is_finished(run)
    assert not marker.exists()
