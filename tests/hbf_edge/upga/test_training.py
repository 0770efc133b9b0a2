import numpy as np
import pytest
import torch

from hbf_edge import ConfigError
from hbf_edge import cplx
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.objectives import sum_rate
from hbf_edge.training import TrainConfig, train_upga
from hbf_edge.units import snr_db_to_power
from hbf_edge.families.upga.model import UPGA

SMALL = dict(n_antennas=16, n_rf=4, n_users=4, n_layers=3, train_size=40, epochs=3, batch_size=10)


def test_training_is_reproducible_and_improves_the_objective():
    cfg = TrainConfig(**SMALL, seed=4)
    m1, mc1 = train_upga(cfg, progress=False)
    m2, _ = train_upga(cfg, progress=False)
    assert torch.equal(m1.mu, m2.mu) and torch.equal(m1.lam, m2.lam)
    assert not torch.equal(m1.mu, UPGA(3, 1, 4).mu)
    assert len(mc1.history) == 3 and mc1.training["seed"] == 4 and mc1.spec.phase_bits is None
    # the trained steps beat the initial (conventional PGA) steps on the training channels
    H = cplx.from_complex(torch.from_numpy(saleh_valenzuela_miso(40, 16, 4, seed=4)))
    p = torch.from_numpy(snr_db_to_power(np.full(40, 10.0)))
    n = torch.ones(40, dtype=torch.float64)
    with torch.no_grad():
        trained = sum_rate(H, *m1.run(H, p, n)[0], n).mean()
        initial = sum_rate(H, *UPGA(3, 1, 4).run(H, p, n)[0], n).mean()
    assert trained > initial


def test_training_with_last_layer_loss_and_given_channels():
    H = saleh_valenzuela_miso(20, 16, 4, seed=9)
    model, cfg = train_upga(TrainConfig(**{**SMALL, "train_size": 20}, layer_loss="last"), H, progress=False)
    assert cfg.training["layer_loss"] == "last" and model.n_layers == 3
    with pytest.raises(Exception):
        train_upga(TrainConfig(**SMALL), H[:, :8], progress=False)


@pytest.mark.parametrize("bad", [dict(n_layers=0), dict(n_inner=0), dict(lr=-1.0), dict(lr_decay=0.0),
                                 dict(snr_db_min=5.0, snr_db_max=0.0), dict(precision="float16"),
                                 dict(n_rf=2), dict(layer_loss="max"), dict(epochs=0)])
def test_bad_training_config(bad):
    with pytest.raises(ConfigError):
        TrainConfig(**bad)


def test_snr_to_power():
    assert np.allclose(snr_db_to_power([0, 10, 20], noise=2.0), [2.0, 20.0, 200.0])
