"""The benchmark CNN of Sec. V-B (hbf_edge.families.mser.cnn): its design meets the constraints,
the users' shared network treats the users alike, it learns, and the toolkit trains, stores,
evaluates and compares it and refuses it where only the unfolded network goes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hbf_edge.cli import main
from hbf_edge.families import CORE
from hbf_edge.families.mser.cnn import MserCnn, build_cnn
from hbf_edge.families.mser.model import loss_vectors, ser_loss
from hbf_edge.families.mser.system import MserSizes, mser_channels, noise_std
from hbf_edge.modelfiles import ModelDirError, read_model_dir

TINY = ["--n-tx", "8", "--n-rf-tx", "2", "--users", "2", "--n-rx", "2", "--n-rf-rx", "1", "--streams", "1"]
SIZES = MserSizes(n_tx=8, n_rf_tx=2, n_users=2, n_rx=2, n_rf_rx=1, n_streams=1)


@pytest.mark.parametrize("constellation", ["qpsk", "16qam"])
def test_the_design_meets_the_constraints(constellation):
    z = MserSizes(n_tx=16, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2, constellation=constellation)
    net = build_cnn(z, 3).eval()
    H = torch.from_numpy(mser_channels(5, z, seed=1))
    with torch.no_grad():
        F, V, U, W = net(H, None, torch.full((5,), 0.1, dtype=torch.float64))
    assert F.shape == (5, 16, 4) and V.shape == (5, 4, 4) and U.shape == (5, 2, 2, 4) and W.shape == (5, 2, 2, 2)
    np.testing.assert_allclose(torch.abs(F).numpy(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(torch.abs(U).numpy(), 1.0, rtol=1e-12)
    power = torch.linalg.matrix_norm(F @ V).numpy() ** 2
    np.testing.assert_allclose(power, 1.0 / z.power_divisor, rtol=1e-12)  # eq. (26)
    np.testing.assert_allclose(torch.linalg.vector_norm(U.conj().transpose(-1, -2) @ W, dim=-2).numpy(), 1.0,
                               rtol=1e-12)


def test_the_users_share_one_network_that_sees_its_own_channel_first():
    """Swapping the users swaps their combiners (the BS's design may change: its input order does)."""
    z = MserSizes(n_tx=16, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
    net = build_cnn(z, 0).eval()
    H = torch.from_numpy(mser_channels(4, z, seed=2))
    sigma = torch.full((4,), 0.2, dtype=torch.float64)
    with torch.no_grad():
        _, _, U, W = net(H, None, sigma)
        _, _, U2, W2 = net(H[:, [1, 0]], None, sigma)
    np.testing.assert_allclose(U2.numpy(), U[:, [1, 0]].numpy(), atol=1e-5)
    np.testing.assert_allclose(W2.numpy(), W[:, [1, 0]].numpy(), atol=1e-5)
    assert not np.allclose(U[:, 0].numpy(), U[:, 1].numpy(), atol=1e-3)  # not one combiner for both


def test_the_snr_reaches_the_network():
    net = build_cnn(SIZES, 0).eval()
    H = torch.from_numpy(mser_channels(3, SIZES, seed=3))
    with torch.no_grad():
        a = net(H, None, torch.full((3,), 0.5, dtype=torch.float64))
        b = net(H, None, torch.full((3,), 0.05, dtype=torch.float64))
    assert not np.allclose(a.V.numpy(), b.V.numpy())


def test_training_lowers_the_ser_loss():
    """A few Adam steps on a fixed batch lower its SER loss (the gradient reaches every branch)."""
    z = MserSizes(n_tx=16, n_rf_tx=2, n_users=2, n_rx=2, n_rf_rx=1, n_streams=1)
    net = build_cnn(z, 0)
    H = torch.from_numpy(mser_channels(40, z, seed=4))
    sigma = torch.full((40,), float(noise_std(15.0)), dtype=torch.float64)
    S = loss_vectors(z, 0)
    opt = torch.optim.Adam(net.parameters(), lr=0.005)

    def loss() -> torch.Tensor:
        return torch.log(ser_loss(H, *net(H, None, sigma), sigma, S) + 1e-6).mean()

    first = loss().item()
    for _ in range(30):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    for name in ("theta_f_nn", "p_nn", "theta_u_nn", "w_nn"):
        assert getattr(net, name).fc[-1].weight.grad.abs().sum() > 0, name
    assert loss().item() < first - 0.1


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("mser_cnn")
    assert main(["channels", "mser", "--out", str(root / "ch"), "--count", "60", *TINY]) == 0
    ch = str(root / "ch" / "channels.npz")
    assert main(["train", "mser", "--design", "cnn", "--out", str(root / "c"), "--channels", ch, "-I", "2",
                 "--samples", "8", "--epochs", "2", "--batch-size", "16", "-q", *TINY]) == 0
    assert main(["train", "mser", "--out", str(root / "m"), "--channels", ch, "-I", "2", "--samples", "8",
                 "--epochs", "1", "--batch-size", "10", "-q", *TINY]) == 0
    wider = [*TINY[:1], "16", *TINY[2:]]  # N_t = 16
    assert main(["train", "mser", "--out", str(root / "wide"), "--train-size", "8", "--val-size", "4", "--epochs", "1",
                 "-I", "2", "--samples", "8", "--gd-steps", "1e-3", "1e-2", "1e-2", "1e-2", "-q", *wider]) == 0
    return root


def test_the_cnn_directory_round_trips(trained):
    core = CORE.get("mser")
    model, config = core.load(trained / "c")
    assert isinstance(model, MserCnn) and not model.training
    fc = config.family_config
    assert fc["design"] == "cnn" and fc["cnn"] == {"conv_channels": [16, 32, 32], "hidden": 256}
    assert config.n_layers == 2 and config.training["lr"] == 0.005 and config.training["batch_size"] == 16
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == core.expected_arrays(config)
    H = core.read_channels(trained / "ch" / "channels.npz", config)[:4]
    out = core.torch_forward(model, H, snr_db=10.0)
    again = core.torch_forward(core.load(trained / "c")[0], H, snr_db=10.0)
    for k in "FVUW":
        np.testing.assert_array_equal(out[k], again[k])


def test_a_tampered_cnn_section_is_refused(trained, tmp_path):
    import shutil

    d = tmp_path / "c"
    shutil.copytree(trained / "c", d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["family_config"]["cnn"]["hidden"] = 0
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelDirError, match="mser.cnn"):
        read_model_dir(d)


def test_evaluate_compares_the_cnn_with_the_unfolded_network(trained, capsys):
    out = trained / "eval"
    assert main(["evaluate", str(trained / "m"), "--compare", str(trained / "c"), "--count", "6", "--snr", "5", "15",
                 "--gd-iterations", "4", "--mmse-gd-iterations", "0", "--out", str(out), "-q"]) == 0
    res = json.loads((out / "results.json").read_text())
    ser = res["metrics"]["ser"]
    assert "compare:c" in ser and len(ser["compare:c"]) == 2
    assert set(res["percent_of_gd"]) == {"gd_4 / network", "gd_4 / compare:c"}
    # the CNN's own evaluation scores the same design as its compare row
    assert main(["evaluate", str(trained / "c"), "--count", "6", "--snr", "5", "15", "--gd-iterations", "4",
                 "--mmse-gd-iterations", "0", "--out", str(trained / "eval_c"), "-q"]) == 0
    own = json.loads((trained / "eval_c" / "results.json").read_text())
    assert own["metrics"]["ser"]["network"] == ser["compare:c"]
    assert own["cpu_timed_in"].startswith("torch")
    assert "compare:c" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["quantize", "{c}", "--out", "{tmp}/q"],
    ["export", "{c}", "--out", "{tmp}/b"],
    ["profile", "{c}"],
    ["evaluate", "{m}", "--compare", "{other}"],
    ["train", "mser", "--design", "cnn", "--out", "{tmp}/x", "--offsets", "--step-shape", "matrix"],
    ["train", "mser", "--design", "cnn", "--out", "{tmp}/x", "--start", "mmse-gd"],
])
def test_what_takes_the_unfolded_network_refuses_the_cnn_in_one_line(trained, tmp_path, capsys, argv):
    args = [a.format(c=trained / "c", m=trained / "m", tmp=tmp_path, other=trained / "wide") for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "CNN" in err[0] or "sizes differ" in err[0] or "design cnn" in err[0], err[0]
    assert not (tmp_path / "q").exists() and not (tmp_path / "b").exists() and not (tmp_path / "x").exists()
