"""Issue 19: UPGA steps that depend on the SNR (``train upga --snr-steps log-affine``): the law
against a channel-by-channel run with scalar steps, the slopes trained and refined, the model
directory, evaluate, and one-line refusals where the law is not built (kernels, QAT, export,
profile)."""

import math

import numpy as np
import pytest
import torch

from hbf_edge import ConfigError, cplx
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.cli import main
from hbf_edge.families.upga.core import CORE
from hbf_edge.families.upga.model import UPGA, pga_forward
from hbf_edge.modeldir import load_model
from hbf_edge.objectives import sum_rate

SIZES = ["-N", "16", "-M", "4", "-K", "4", "-I", "3"]


def _channels(B, seed=4):
    H = cplx.from_complex(torch.from_numpy(saleh_valenzuela_miso(B, 16, 4, seed=seed)))
    return H


def test_each_channel_runs_its_own_log_affine_steps():
    """The batched law equals Algorithm 1 run channel by channel with the scalar steps
    ``mu exp(b (s - s_ref) / 10)`` written out here; zero slopes give the shared steps."""
    H = _channels(3)
    snr_db = np.array([-4.0, 7.0, 19.0])
    p_t = torch.from_numpy(10 ** (snr_db / 10) * 2.0)
    noise = torch.full((3,), 2.0, dtype=torch.float64)
    net = UPGA(3, 2, 4, snr_ref_db=5.0)
    shared = UPGA(3, 2, 4)
    with torch.no_grad():
        (F0, W0), _ = net.run(H, p_t, noise)
        (F1, W1), _ = shared.run(H, p_t, noise)
        torch.testing.assert_close(F0.re, F1.re, rtol=0, atol=0)
        torch.testing.assert_close(W0.im, W1.im, rtol=0, atol=0)
        rng = np.random.default_rng(1)
        net.mu.copy_(torch.from_numpy(rng.uniform(0.005, 0.03, (3, 2))))
        net.lam.copy_(torch.from_numpy(rng.uniform(1e-4, 5e-4, 3)))
        net.mu_slope.copy_(torch.from_numpy(rng.uniform(-1, 1, (3, 2))))
        net.lam_slope.copy_(torch.from_numpy(rng.uniform(-1, 1, 3)))
        (F, W), rates = net.run(H, p_t, noise, trajectory=True)
        for b in range(3):
            factor = (snr_db[b] - 5.0) / 10
            mu = net.mu * torch.exp(net.mu_slope * factor)
            lam = net.lam * torch.exp(net.lam_slope * factor)
            one = cplx.C(H.re[b:b + 1], H.im[b:b + 1])
            (Fb, Wb), rb = pga_forward(one, p_t[b:b + 1], noise[b:b + 1], mu, lam, 4, trajectory=True)
            torch.testing.assert_close(F.re[b], Fb.re[0], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(W.im[b], Wb.im[0], rtol=1e-12, atol=1e-12)
            assert [float(r[b]) for r in rates] == pytest.approx([float(r[0]) for r in rb], rel=1e-12)
        assert not torch.allclose(W.re, W1.re)  # the slopes changed the design
    with pytest.raises(ConfigError, match="snr_ref_db"):
        UPGA(3, 1, 4, snr_ref_db=math.nan)


def test_log_affine_steps_train_refine_load_evaluate_and_are_refused_where_not_built(tmp_path, capsys):
    root = tmp_path
    assert main(["train", "upga", "--out", str(root / "m"), *SIZES, "--train-size", "30", "--epochs", "3",
                 "--snr-steps", "log-affine", "--snr-min", "0", "--snr-max", "20", "--refine-above-start", "0.1",
                 "--refine-snrs", "0", "20", "-q"]) == 0
    model, config = load_model(root / "m")
    assert config.family_config == {"snr_steps": {"law": "log-affine", "snr_ref_db": 10.0}}
    assert config.training["snr_steps"] == "log-affine"
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == CORE.expected_arrays(config)
    assert float(model.mu_slope.detach().abs().max()) > 0 and float(model.lam_slope.detach().abs().max()) > 0
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


def test_a_bad_snr_steps_section_is_refused_on_load(tmp_path):
    import json

    assert main(["train", "upga", "--out", str(tmp_path / "m"), *SIZES, "--train-size", "10", "--epochs", "1",
                 "--snr-steps", "log-affine", "-q"]) == 0
    path = tmp_path / "m" / "config.json"
    data = json.loads(path.read_text())
    data["family_config"]["snr_steps"]["law"] = "cubic"
    path.write_text(json.dumps(data))
    with pytest.raises(Exception, match="snr_steps"):
        load_model(tmp_path / "m")
