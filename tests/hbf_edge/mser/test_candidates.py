"""MSER candidate layers (``train mser --candidates``): a greedy per-channel line search over each
layer's step, checked against GD and the KDE objective in numpy; the model directory; refusals."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from hbf_edge.cli import main
from hbf_edge.errors import ConfigError
from hbf_edge.families import CORE
from hbf_edge.families.mser.candidates import SHAPES, grid_table, read_candidates
from hbf_edge.families.mser.complexity import mser_layer_ops
from hbf_edge.families.mser.gd import Design, GdSteps, dft_alignment, gd
from hbf_edge.families.mser.model import MserNet
from hbf_edge.families.mser.ser import kde_objective
from hbf_edge.families.mser.system import MserSizes, mser_channels, noise_std

SIZES = MserSizes(n_tx=8, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
STEPS = GdSteps(mu_p=1e-3, mu_w=1e-2, mu_theta_u=1e-2, mu_theta_f=1e-2)
SHAPE = SHAPES["qpsk"]
TINY = ["--n-tx", "8", "--n-rf-tx", "2", "--users", "2", "--n-rx", "2", "--n-rf-rx", "1", "--streams", "1"]


def _scaled(steps: GdSteps, f: np.ndarray) -> GdSteps:
    return dataclasses.replace(steps, mu_p=steps.mu_p * f[0], mu_w=steps.mu_w * f[1],
                               mu_theta_u=steps.mu_theta_u * f[2], mu_theta_f=steps.mu_theta_f * f[3])


def _greedy_reference(net: MserNet, H: np.ndarray, sigma: float, table: np.ndarray) -> tuple[Design, set]:
    """Each layer as one numpy GD iteration per row (the layer's symbols, the steps times the
    row), scored by the KDE objective (15) at the exact noise width on the scoring vectors, the
    lowest kept per channel (strictly lower replaces: the first row on ties)."""
    K, Dk = SIZES.n_users, SIZES.n_streams
    S_score = torch.view_as_complex(net.score_symbols.contiguous()).numpy()

    def score(d: Design) -> np.ndarray:  # W is normalised, so the width is sigma / sqrt 2
        return kde_objective(H, *d, S_score, sigma / np.sqrt(2.0)) / (K * Dk)

    d = dft_alignment(H, SIZES)
    current = score(d)
    chosen = set()
    for i in range(net.n_layers):
        best, best_score, which = None, None, np.zeros(len(H), int)
        for c, f in enumerate(table):
            if not f.any():
                dc, sc = d, current
            else:
                dc = gd(H, SIZES, sigma, 1, _scaled(STEPS, f), start=d, symbols=net.symbol_set(i).numpy()[None],
                        backend="numpy")
                sc = score(dc)
            if best is None:
                best, best_score = dc, sc
                continue
            better = sc < best_score
            best = Design(*(np.where(better.reshape((-1,) + (1,) * (a.ndim - 1)), a, b) for a, b in zip(dc, best)))
            best_score = np.where(better, sc, best_score)
            which = np.where(better, c, which)
        d, current = best, best_score
        chosen |= set(which.tolist())
    return d, chosen


@pytest.mark.parametrize("grid", ["line", "no-keep"])
def test_candidate_layers_are_a_greedy_line_search_of_gd(grid):
    table = grid_table("line", SHAPE)
    table = table if grid == "line" else table[1:]  # without the row that keeps the design
    H = mser_channels(6, SIZES, seed=3)
    sigma = float(noise_std(12.0))
    net = MserNet(SIZES, 3, STEPS, n_samples=16, seed=2, candidates=table, score_samples=64)
    with torch.no_grad():
        out = net(torch.from_numpy(H), [torch.from_numpy(x) for x in dft_alignment(H, SIZES)],
                  torch.full((6,), sigma, dtype=torch.float64))
    ref, chosen = _greedy_reference(net, H, sigma, table)
    for a, b in zip(out, ref):
        np.testing.assert_allclose(a.numpy(), b, rtol=0, atol=1e-12)
    assert len(chosen) >= 3  # the channels chose different steps: a per-channel choice is tested


def test_with_the_keep_row_the_score_never_rises_and_the_steps_get_gradients():
    H = torch.from_numpy(mser_channels(8, SIZES, seed=5))
    sigma = torch.full((8,), float(noise_std(8.0)), dtype=torch.float64)
    net = MserNet(SIZES, 4, STEPS, n_samples=16, seed=1, candidates=grid_table("line", SHAPE), score_samples=64)
    d = [torch.from_numpy(x) for x in dft_alignment(H.numpy(), SIZES)]
    score = net.score(H, d, sigma)
    scores = [score]
    for i in range(net.n_layers):
        d, score = net.candidate_layer(i, H, d, sigma, score)
        torch.testing.assert_close(score, net.score(H, d, sigma), rtol=0, atol=0)
        scores.append(score)
    steps = torch.stack(scores).detach().numpy()
    assert np.all(np.diff(steps, axis=0) <= 0) and steps[-1].mean() < 0.9 * steps[0].mean()
    net.score(H, d, sigma).mean().backward()
    assert float(net.a_p.grad.abs().sum()) > 0 and float(net.a_f.grad.abs().sum()) > 0


def test_candidate_layers_train_two_epochs_by_default(tmp_path):
    from hbf_edge.families.mser.config import MserTrain

    assert MserTrain(out=tmp_path / "m").design_value("epochs") == 30
    assert MserTrain(out=tmp_path / "m", candidates="line").design_value("epochs") == 2
    assert MserTrain(out=tmp_path / "m", candidates="line", epochs=7).design_value("epochs") == 7


def test_candidate_tables_are_checked(tmp_path):
    assert [read_candidates(g) for g in ("none", "line", "short")] == ["none", "line", "short"]
    assert grid_table("none", SHAPE) is None
    line, short = grid_table("line", SHAPE), grid_table("short", SHAPE)
    assert line.shape == (15, 4) and not line[0].any() and np.array_equal(line[-1], 16 * np.array(SHAPE))
    assert short.shape == (7, 4) and all(any(np.array_equal(r, x) for x in line) for r in short)
    np.save(tmp_path / "ok.npy", np.array([[0.0, 0, 0, 0], [1.0, 2, 3, 4]]))
    np.testing.assert_array_equal(read_candidates(str(tmp_path / "ok.npy"))[1], [1, 2, 3, 4])
    for table, needle in ((np.ones((2, 3)), "[C, 4]"), (-np.ones((2, 4)), ">= 0"), (np.full((1, 4), np.nan), "finite")):
        np.save(tmp_path / "bad.npy", table)
        with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
            read_candidates(str(tmp_path / "bad.npy"))
    with pytest.raises(ConfigError, match="short or a .npy"):
        read_candidates("bogus")


def test_a_candidate_network_trains_loads_evaluates_and_is_refused_where_not_built(tmp_path, capsys):
    root = tmp_path
    assert main(["channels", "mser", "--out", str(root / "ch"), "--count", "40", *TINY]) == 0
    assert main(["train", "mser", "--out", str(root / "m"), "--channels", str(root / "ch" / "channels.npz"), "-I", "2",
                 "--samples", "8", "--epochs", "1", "--batch-size", "10", "-q", "--candidates", "line", *TINY]) == 0
    core = CORE.get("mser")
    model, config = core.load(root / "m")
    fc = config.family_config
    shape = SHAPES["qpsk"]
    np.testing.assert_array_equal(np.array(fc["candidates"]), grid_table("line", shape))
    assert fc["score_samples"] == 512
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == core.expected_arrays(config)
    np.testing.assert_array_equal(model.candidates.numpy(), grid_table("line", shape))
    again, _ = core.load(root / "m")  # the scoring vectors are seeded: the same on every load
    torch.testing.assert_close(again.score_symbols, model.score_symbols, rtol=0, atol=0)
    assert main(["evaluate", str(root / "m"), "--count", "20", "--gd-iterations", "4", "--mmse-gd-iterations", "0",
                 "-q", "--out", str(root / "e")]) == 0
    assert "timed in numba" in capsys.readouterr().out  # the float kernel runs candidate layers
    # profile: torch and the float kernel, a layer being all its candidates; the graphs are skipped
    assert main(["profile", str(root / "m"), "--batches", "1", "4", "--repeat", "3", "-q", "--out",
                 str(root / "p")]) == 0
    prof = json.loads((root / "p" / "profile.json").read_text())
    assert prof["candidates"] == {"rows": 15, "passes_per_layer": 14}
    assert set(prof["measured"]["4"]) == {"torch_eager", "numba_float64"}
    assert prof["ops_per_layer"]["complex_macs"] > 14 * mser_layer_ops(model.sizes, 8)["complex_macs"]
    for row in prof["measured"].values():
        assert all(len(r["layers_us_per_channel"]) == 2 for r in row.values())
    assert main(["profile", str(root / "m"), "--backends", "onnxruntime", "torch_eager", "--batches", "1", "--repeat",
                 "3", "-q", "--out", str(root / "p2")]) == 0
    assert "candidate layers" in json.loads((root / "p2" / "profile.json").read_text())["skipped"]["onnxruntime"]
    for argv, out in ((["quantize", str(root / "m"), "--out", str(root / "q")], root / "q"),
                      (["export", str(root / "m"), "--out", str(root / "b")], root / "b")):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "candidate layers" in err[0], (argv, err)
        assert out is None or not out.exists()
    table = np.array([[0.0, 0, 0, 0], [1.0, 1, 1, 1], [4.0, 0.5, 1, 2]])
    np.save(root / "t.npy", table)
    assert main(["train", "mser", "--out", str(root / "n"), "--channels", str(root / "ch" / "channels.npz"), "-I", "2",
                 "--samples", "8", "--epochs", "1", "--batch-size", "10", "-q", "--candidates", str(root / "t.npy"),
                 *TINY]) == 0
    _, config = core.load(root / "n")
    np.testing.assert_array_equal(np.array(config.family_config["candidates"]), table)
    capsys.readouterr()
    assert main(["train", "mser", "--out", str(root / "x"), "--candidates", "bogus"]) == 2
    assert main(["train", "mser", "--out", str(root / "x"), "--design", "cnn", "--candidates", "line"]) == 2
    assert not (root / "x").exists()
