"""Issue 19: UPGA steps that depend on the SNR (``train upga --snr-steps log-affine|table``): each
law against a channel-by-channel run with scalar steps, the log-gains trained and refined, the
model directory, evaluate, and one-line refusals where the laws are not built (kernels, QAT,
export, profile)."""

import math

import numpy as np
import pytest
import torch

from hbf_edge import ConfigError, cplx
from hbf_edge.errors import ModelDirError
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.cli import main
from hbf_edge.families.upga.core import CORE
from hbf_edge.families.upga.model import UPGA, pga_forward
from hbf_edge.families.upga.snr_steps import SnrLaw
from hbf_edge.modeldir import load_model
from hbf_edge.objectives import sum_rate

SIZES = ["-N", "16", "-M", "4", "-K", "4", "-I", "3"]


def _channels(B, seed=4):
    H = cplx.from_complex(torch.from_numpy(saleh_valenzuela_miso(B, 16, 4, seed=seed)))
    return H


@pytest.mark.parametrize("law", [SnrLaw("log-affine", (5.0,)), SnrLaw("table", (-2.0, 8.0, 14.0))])
def test_each_channel_runs_its_own_steps(law):
    """The batched law equals Algorithm 1 run channel by channel with the scalar steps written
    out here (log-affine: ``mu exp(b (s - r) / 10)``; table: the log-steps interpolated between
    the two knots around s, the end knot's beyond); zero log-gains give the shared steps."""
    H = _channels(4)
    snr_db = np.array([-4.0, 7.0, 11.0, 19.0])
    p_t = torch.from_numpy(10 ** (snr_db / 10) * 2.0)
    noise = torch.full((4,), 2.0, dtype=torch.float64)
    net = UPGA(3, 2, 4, snr_law=law)
    shared = UPGA(3, 2, 4)
    with torch.no_grad():
        (F0, W0), _ = net.run(H, p_t, noise)
        (F1, W1), _ = shared.run(H, p_t, noise)
        torch.testing.assert_close(F0.re, F1.re, rtol=0, atol=0)
        torch.testing.assert_close(W0.im, W1.im, rtol=0, atol=0)
        rng = np.random.default_rng(1)
        net.mu.copy_(torch.from_numpy(rng.uniform(0.005, 0.03, (3, 2))))
        net.lam.copy_(torch.from_numpy(rng.uniform(1e-4, 5e-4, 3)))
        net.mu_snr.copy_(torch.from_numpy(rng.uniform(-1, 1, net.mu_snr.shape)))
        net.lam_snr.copy_(torch.from_numpy(rng.uniform(-1, 1, net.lam_snr.shape)))
        (F, W), rates = net.run(H, p_t, noise, trajectory=True)
        for b in range(4):
            if law.law == "log-affine":
                gain_mu, gain_lam = net.mu_snr[0] * (snr_db[b] - 5.0) / 10, net.lam_snr[0] * (snr_db[b] - 5.0) / 10
            else:
                s = min(max(snr_db[b], -2.0), 14.0)
                g = 1 if s <= 8.0 else 2  # the knot above s
                w = (s - law.snr_db[g - 1]) / (law.snr_db[g] - law.snr_db[g - 1])
                gain_mu = (1 - w) * net.mu_snr[g - 1] + w * net.mu_snr[g]
                gain_lam = (1 - w) * net.lam_snr[g - 1] + w * net.lam_snr[g]
            mu, lam = net.mu * torch.exp(gain_mu), net.lam * torch.exp(gain_lam)
            one = cplx.C(H.re[b:b + 1], H.im[b:b + 1])
            (Fb, Wb), rb = pga_forward(one, p_t[b:b + 1], noise[b:b + 1], mu, lam, 4, trajectory=True)
            torch.testing.assert_close(F.re[b], Fb.re[0], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(W.im[b], Wb.im[0], rtol=1e-12, atol=1e-12)
            assert [float(r[b]) for r in rates] == pytest.approx([float(r[0]) for r in rb], rel=1e-12)
        assert not torch.allclose(W.re, W1.re)  # the gains changed the design
    if law.law == "table":  # at a knot, that knot's steps alone
        a = law.weights(torch.tensor([-9.0, -2.0, 8.0, 14.0, 30.0], dtype=torch.float64))
        torch.testing.assert_close(a, torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]],
                                                   dtype=torch.float64))


def test_a_malformed_law_is_one_error():
    for law, points, match in (("cubic", (1.0,), "one of"), ("table", (3.0,), "two or more"),
                               ("table", (3.0, 3.0), "increasing"), ("log-affine", (1.0, 2.0), "one reference"),
                               ("log-affine", (math.nan,), "finite")):
        with pytest.raises(ConfigError, match=match):
            SnrLaw(law, points)
    with pytest.raises(ConfigError, match="snr_db"):
        SnrLaw.from_section({"law": "table"})


def test_log_affine_steps_train_refine_load_evaluate_and_are_refused_where_not_built(tmp_path, capsys):
    root = tmp_path
    assert main(["train", "upga", "--out", str(root / "m"), *SIZES, "--train-size", "30", "--epochs", "3",
                 "--snr-steps", "log-affine", "--snr-min", "0", "--snr-max", "20", "--refine-above-start", "0.1",
                 "--refine-snrs", "0", "20", "-q"]) == 0
    model, config = load_model(root / "m")
    assert config.family_config == {"snr_steps": {"law": "log-affine", "snr_db": [10.0]}}
    assert config.training["snr_steps"] == "log-affine"
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == CORE.expected_arrays(config)
    assert float(model.mu_snr.detach().abs().max()) > 0 and float(model.lam_snr.detach().abs().max()) > 0
    assert set(config.history[-1]["per_snr"]) == {"0", "20"}
    # the record's rates are the loaded model's own: the slopes were saved
    H = cplx.from_complex(torch.from_numpy(saleh_valenzuela_miso(30, 16, 4, seed=0)))
    with torch.no_grad():
        p_t = torch.full((30,), 100.0, dtype=torch.float64)
        (F, W), _ = model.run(H, p_t, torch.ones(30, dtype=torch.float64))
        rate = float(sum_rate(H, F, W, torch.ones(30, dtype=torch.float64)).mean())
    assert rate == pytest.approx(config.history[-1]["per_snr"]["20"]["rate_last"], rel=1e-9)
    assert main(["evaluate", str(root / "m"), "--count", "20", "--snr", "0", "20", "-q", "--out", str(root / "e")]) == 0
    for argv, out in ((["quantize", str(root / "m"), "--out", str(root / "q"), "--method", "ptq"], root / "q"),
                      (["export", str(root / "m"), "--out", str(root / "b")], root / "b"),
                      (["profile", str(root / "m"), "--out", str(root / "p")], root / "p")):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "SNR-dependent steps" in err[0], (argv, err)
        assert not out.exists()
    from hbf_edge import kernels

    with pytest.raises(ConfigError, match="SNR-dependent steps"):
        kernels.load_upga(root / "m")
    capsys.readouterr()
    assert main(["train", "upganet", "--out", str(root / "j"), "--snr-steps", "log-affine", "-q"]) == 2
    assert "UPGA's for now" in capsys.readouterr().err
    assert not (root / "j").exists()


def test_a_bad_section_is_refused_on_load_and_a_table_needs_knots(tmp_path, capsys):
    import json

    assert main(["train", "upga", "--out", str(tmp_path / "m"), *SIZES, "--train-size", "10", "--epochs", "1",
                 "--snr-steps", "log-affine", "-q"]) == 0
    path = tmp_path / "m" / "config.json"
    data = json.loads(path.read_text())
    data["family_config"]["snr_steps"]["snr_db"] = [5.0, 1.0]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelDirError, match="one reference"):
        load_model(tmp_path / "m")
    assert main(["train", "upga", "--out", str(tmp_path / "k"), *SIZES, "--train-size", "10", "--epochs", "2",
                 "--snr-steps", "table", "--snr-knots", "12", "-4", "20", "-q"]) == 0
    model, config = load_model(tmp_path / "k")  # the knots sorted; each knot's gains trained on its SNRs
    assert config.family_config == {"snr_steps": {"law": "table", "snr_db": [-4.0, 12.0, 20.0]}}
    assert tuple(model.mu_snr.shape) == (3, 3, 1) and tuple(model.lam_snr.shape) == (3, 3)
    assert bool((model.lam_snr.detach() != 0).all())
    # a table on the finish's SNRs is refined knot by knot (the shared steps fixed): the same
    # objective, so the record's per-SNR rates are the saved model's, and each knot moved
    # (--refine-between 0: no pass over the midpoints after it; tests/hbf_edge/upga/test_refine.py)
    assert main(["train", "upga", "--out", str(tmp_path / "r"), *SIZES, "--train-size", "10", "--epochs", "1",
                 "--snr-steps", "table", "--refine-above-start", "0.1", "--refine-snrs", "20", "0",
                 "--refine-between", "0", "-q"]) == 0
    model, config = load_model(tmp_path / "r")
    assert config.family_config["snr_steps"]["snr_db"] == [0.0, 20.0]
    assert main(["train", "upga", "--out", str(tmp_path / "r0"), *SIZES, "--train-size", "10", "--epochs", "1",
                 "--snr-steps", "table", "--snr-knots", "0", "20", "-q"]) == 0
    adam, _ = load_model(tmp_path / "r0")  # the same Adam stage: the finish kept its shared steps
    torch.testing.assert_close(model.mu, adam.mu, rtol=1e-14, atol=0)  # exp(log(mu)): to rounding
    torch.testing.assert_close(model.lam, adam.lam, rtol=1e-14, atol=0)
    assert not torch.equal(model.mu_snr, adam.mu_snr) and not torch.equal(model.lam_snr, adam.lam_snr)
    H = cplx.from_complex(torch.from_numpy(saleh_valenzuela_miso(10, 16, 4, seed=0)))
    one = torch.ones(10, dtype=torch.float64)
    with torch.no_grad():
        for snr in (0.0, 20.0):
            (F, W), _ = model.run(H, one * 10 ** (snr / 10), one)
            rate = float(sum_rate(H, F, W, one).mean())
            assert rate == pytest.approx(config.history[-1]["per_snr"][f"{snr:g}"]["rate_last"], rel=1e-9)
    capsys.readouterr()
    assert main(["train", "upga", "--out", str(tmp_path / "t"), "--snr-steps", "table", "-q"]) == 2
    assert "needs its knots" in capsys.readouterr().err
    assert main(["train", "upga", "--out", str(tmp_path / "t"), "--snr-knots", "0", "10", "-q"]) == 2
    assert not (tmp_path / "t").exists()
