import numpy as np
import pytest

from hbf_edge import DatasetError, InvalidChannelError, ShapeError
from hbf_edge.channels import (
    ChannelDataset,
    clustered_mimo,
    make_dataset,
    saleh_valenzuela_miso,
    ula_response,
    validate_miso_channels,
)


def test_sv_shape_seed_and_statistics():
    H = saleh_valenzuela_miso(4000, 16, 3, n_paths=10, seed=5)
    assert H.shape == (4000, 16, 3) and H.dtype == np.complex128
    assert np.array_equal(H, saleh_valenzuela_miso(4000, 16, 3, n_paths=10, seed=5))
    assert not np.array_equal(H, saleh_valenzuela_miso(4000, 16, 3, n_paths=10, seed=6))
    # E ||h_k||^2 = P (alpha ~ CN(0,1), ||a|| = 1, independent angles); 12000 draws
    power = np.mean(np.sum(np.abs(H) ** 2, axis=1))
    assert power == pytest.approx(10.0, rel=0.05)


def test_sv_single_path_is_a_steering_vector():
    H = saleh_valenzuela_miso(3, 8, 2, n_paths=1, seed=1)
    # one path: |h_n| equal over n and consecutive phase increments constant (ULA)
    mag = np.abs(H)
    assert np.allclose(mag, mag[:, :1, :])
    inc = H[:, 1:, :] / H[:, :-1, :]
    assert np.allclose(inc, inc[:, :1, :])


def test_ula_response():
    a = ula_response(np.array([0.3]), 8)[0]
    assert np.allclose(np.abs(a), 1 / np.sqrt(8))
    assert np.allclose(a[1] / a[0], np.exp(1j * np.pi * np.sin(0.3)))


def test_clustered_mimo_shape_and_power():
    H = clustered_mimo(2000, n_tx=16, n_rx=4, n_users=2, seed=3)
    assert H.shape == (2000, 2, 4, 16)
    # E ||H_k||_F^2 = Nt Nr sigma_alpha^2 (eq. 45 normalisation)
    power = np.mean(np.sum(np.abs(H) ** 2, axis=(2, 3)))
    assert power == pytest.approx(16 * 4 * 0.1, rel=0.05)
    with pytest.raises(ShapeError):
        clustered_mimo(1, 4, 4, aod_range=(1.0, -1.0))


def test_dataset_round_trip(tmp_path):
    ds = make_dataset(n_channels=5, n_antennas=8, n_users=2, n_paths=3, seed=9)
    path = ds.save(tmp_path / "ch.npz")
    again = ChannelDataset.load(path)
    assert np.array_equal(again.H, ds.H) and again.params == ds.params and again.params["seed"] == 9
    mimo = make_dataset("clustered_mimo", n_channels=2, n_tx=8, n_rx=2, n_users=3)
    assert np.array_equal(ChannelDataset.load(mimo.save(tmp_path / "m.npz")).H, mimo.H)


def test_dataset_rejects_corruption(tmp_path):
    ds = make_dataset(n_channels=5, n_antennas=8, n_users=2, seed=1)
    path = ds.save(tmp_path / "ch.npz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(DatasetError):
        ChannelDataset.load(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError):
        ChannelDataset.load(tmp_path / "junk.npz")
    with pytest.raises(DatasetError):
        ChannelDataset.load(tmp_path / "missing.npz")
    H = ds.H.copy()
    H[2, 3, 1] = np.nan
    np.savez(tmp_path / "nan.npz", H=H, model=np.array(ds.model), params=np.array("{}"),
             format_version=np.array(1))
    with pytest.raises(InvalidChannelError):
        ChannelDataset.load(tmp_path / "nan.npz")
    with pytest.raises(DatasetError, match="shape"):
        ChannelDataset(H=ds.H[:3], model=ds.model, params=ds.params)


def test_validate_miso_channels():
    H = saleh_valenzuela_miso(4, 8, 2, seed=0)
    assert validate_miso_channels(H, 8, 2).shape == (4, 8, 2)
    with pytest.raises(ShapeError):
        validate_miso_channels(H[0])
    with pytest.raises(ShapeError):
        validate_miso_channels(H, n_antennas=16)
    with pytest.raises(ShapeError):
        validate_miso_channels(H, n_users=3)
    with pytest.raises(ShapeError):
        validate_miso_channels(np.zeros((0, 8, 2), complex))
    bad = H.copy()
    bad[1, 0, 0] = np.inf
    with pytest.raises(InvalidChannelError, match="NaN or inf"):
        validate_miso_channels(bad)
    bad = H.copy()
    bad[3, :, 1] = 0
    with pytest.raises(InvalidChannelError, match="all zero"):
        validate_miso_channels(bad)
