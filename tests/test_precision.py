"""Training precision is decided on the machine (harness.training.precision), stored in the checkpoint and kept on resume."""
import pytest
import torch

from harness.training import precision
from harness.models import build_model
from harness.training.precision import MIN_SPEEDUP, resolve_amp
from harness.training.trainer import TrainConfig, load_checkpoint, train

VOCAB, MASK, L = 6, 5, 16


def batch_fn(step):
    g = torch.Generator().manual_seed(step)
    x = torch.randint(0, 4, (8, L), generator=g)
    return x, torch.ones_like(x, dtype=torch.bool)


def fake_probe(fp32, bf16):
    return lambda amp: [{"off": fp32, "bf16": bf16}[amp]] * 3


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENORDER_CACHE", str(tmp_path / "cache"))


def test_forced_choices_are_kept_everywhere():
    assert resolve_amp("bf16", "cpu")[0] == "bf16"
    assert resolve_amp("off", "cpu")[0] == "off"
    with pytest.raises(ValueError, match="amp must be"):
        resolve_amp("fp8", "cpu")


def test_auto_on_a_cpu_without_bf16_instructions_is_fp32_without_probing(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ())
    called = []
    amp, why = resolve_amp("auto", "cpu", lambda a: called.append(a) or 1.0)
    assert amp == "off" and not called and "no bf16" in why["reason"]


@pytest.mark.parametrize("fp32,bf16,want", [(1.0, 1.0, "off"), (1.0, 1.0 / (MIN_SPEEDUP * 0.99), "off"),
                                            (1.0, 1.0 / (MIN_SPEEDUP * 1.01), "bf16"), (1.0, 12.0, "off")])
def test_auto_on_a_bf16_cpu_follows_the_probe_with_a_margin(monkeypatch, fp32, bf16, want):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("amx_bf16",))
    amp, why = resolve_amp("auto", "cpu", fake_probe(fp32, bf16))
    assert amp == want and why["probe_seconds"] == {"fp32": round(fp32, 4), "bf16": round(bf16, 4)}


def test_overlapping_probe_times_mean_fp32(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("amx_bf16",))
    times = {"off": [1.0, 1.0, 0.2], "bf16": [0.3, 0.3, 0.3]}     # median 3.3x, but one fp32 step was faster
    assert resolve_amp("auto", "cpu", lambda amp: times[amp])[0] == "off"


def test_the_first_decision_on_a_machine_is_reused(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("amx_bf16",))
    key = precision.decision_key(["model", 1])
    assert resolve_amp("auto", "cpu", fake_probe(1.0, 0.1), key=key)[0] == "bf16"
    amp, why = resolve_amp("auto", "cpu", lambda amp: 1 / 0, key=key)            # no second probe
    assert amp == "bf16" and why["reason"].startswith("stored decision")
    assert resolve_amp("auto", "cpu", fake_probe(1.0, 1.0), key=precision.decision_key(["other"]))[0] == "off"


def test_auto_on_cuda_is_bf16_without_probing():
    assert resolve_amp("auto", "cuda", lambda a: 1 / 0)[0] == "bf16"


def test_training_records_the_choice_and_a_resume_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("amx_bf16",))
    monkeypatch.setattr("harness.training.trainer.resolve_amp",
                        lambda req, dev, probe, key: ("bf16", {"requested": req, "reason": "test", "probe": probe("off")}))
    cfg = TrainConfig(iters=4, ckpt_every=2, log_every=1, lr=1e-3, warmup=0)
    torch.manual_seed(0)
    model = build_model("0.2M", VOCAB, L, seed=0)
    w0 = {k: v.clone() for k, v in model.state_dict().items()}
    rng0 = torch.get_rng_state()
    cut = TrainConfig(**dict(cfg.to_dict(), iters=4))
    # the probe (a real forward+backward) leaves weights and the global RNG untouched
    from harness.training.trainer import _probe_seconds
    assert min(_probe_seconds(model, batch_fn, cut, MASK, torch.device("cpu"), "off")) > 0
    assert all(torch.equal(w0[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng0, torch.get_rng_state()) and all(p.grad is None for p in model.parameters())

    def crashing(step):
        if step == 3:
            raise KeyboardInterrupt
        return batch_fn(step)

    with pytest.raises(KeyboardInterrupt):
        train(model, crashing, cfg, tmp_path / "run", MASK, progress=False)
    _, ckpt = load_checkpoint(tmp_path / "run" / "ckpt.pt")
    assert ckpt["amp"] == "bf16" and ckpt["step"] == 2 and not ckpt["finished"]
    # the resumed run keeps the stored choice even where a new decision would differ
    monkeypatch.setattr("harness.training.trainer.resolve_amp", lambda req, dev, probe, key: ("off", {"reason": "other"}))
    summary = train(build_model("0.2M", VOCAB, L, seed=0), batch_fn, cfg, tmp_path / "run", MASK, progress=False)
    assert summary["amp"] == "bf16" and summary["amp_reason"]["reason"] == "test"
