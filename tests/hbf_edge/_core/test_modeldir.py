import json

import pytest
import torch

from hbf_edge import ModelDirError
from hbf_edge import cplx
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.modeldir import ModelConfig, load_model, save_model
from hbf_edge.hw.spec import HardwareSpec
from hbf_edge.families.upga.model import UPGA


def _saved(tmp_path):
    net = UPGA(4, 2, 4)
    with torch.no_grad():
        net.mu.add_(torch.rand(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1e-3)
        net.lam.mul_(1.234567890123)
    cfg = ModelConfig("upga", HardwareSpec(16, 4, 4, None), 4, 2, training={"seed": 3}, history=[{"loss": -1.0}])
    return net, cfg, save_model(net, cfg, tmp_path / "model")


def test_round_trip_is_exact(tmp_path):
    net, cfg, path = _saved(tmp_path)
    again, cfg2 = load_model(path)
    assert torch.equal(again.mu, net.mu) and torch.equal(again.lam, net.lam)
    assert cfg2.spec == cfg.spec and cfg2.training == cfg.training and cfg2.history == cfg.history
    H = cplx.from_complex(torch.from_numpy(saleh_valenzuela_miso(3, 16, 4, seed=1)))
    p, n = torch.full((3,), 10.0, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    assert all(torch.equal(a, b) for a, b in zip(net(H.re, H.im, p, n), again(H.re, H.im, p, n)))


def test_refuses_to_clobber_without_overwrite(tmp_path):
    net, cfg, path = _saved(tmp_path)
    with pytest.raises(ModelDirError, match="exists"):
        save_model(net, cfg, path)
    save_model(net, cfg, path, overwrite=True)
    assert load_model(path)[1].n_layers == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary leftovers


def test_missing_and_altered_files(tmp_path):
    _, _, path = _saved(tmp_path)
    weights = path / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelDirError, match="altered"):
        load_model(path)
    weights.unlink()
    with pytest.raises(ModelDirError, match="missing"):
        load_model(path)
    with pytest.raises(ModelDirError, match="does not exist"):
        load_model(tmp_path / "nope")


@pytest.mark.parametrize("edit,match", [
    (lambda d: d.update(format_version=99), "format version"),
    (lambda d: d.update(family="resnet"), "family"),
    (lambda d: d.pop("network"), "incomplete"),
    (lambda d: d["hardware"].update(n_rf=1), "n_rf"),
    (lambda d: d.pop("weights"), "sha256"),
])
def test_bad_config(tmp_path, edit, match):
    _, _, path = _saved(tmp_path)
    data = json.loads((path / "config.json").read_text())
    edit(data)
    (path / "config.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match=match) as info:
        load_model(path)
    assert isinstance(info.value, (ModelDirError, ValueError))


def test_unparsable_config(tmp_path):
    _, _, path = _saved(tmp_path)
    (path / "config.json").write_text("{truncated")
    with pytest.raises(ModelDirError, match="JSON"):
        load_model(path)
    (path / "config.json").unlink()
    with pytest.raises(ModelDirError, match="config.json"):
        load_model(path)


def test_arrays_that_do_not_fit_the_config(tmp_path):
    import numpy as np

    from hbf_edge.modelfiles import read_model_dir, write_model_dir

    cfg = ModelConfig("upga", HardwareSpec(16, 4, 4, None), 3, 1)
    with pytest.raises(ModelDirError, match="shape"):
        write_model_dir(tmp_path / "a", cfg, {"mu": np.zeros((3, 2)), "lam": np.zeros(3)})
    with pytest.raises(ModelDirError, match="needs"):
        write_model_dir(tmp_path / "a", cfg, {"mu": np.zeros((3, 1))})
    with pytest.raises(ModelDirError, match="NaN"):
        write_model_dir(tmp_path / "a", cfg, {"mu": np.full((3, 1), np.nan), "lam": np.zeros(3)})
    assert not (tmp_path / "a").exists()
    # a config edited to other sizes no longer matches the (unaltered) weights
    path = write_model_dir(tmp_path / "b", cfg, {"mu": np.zeros((3, 1)), "lam": np.zeros(3)})
    data = json.loads((path / "config.json").read_text())
    data["network"]["n_layers"] = 4
    (path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ModelDirError, match="shape"):
        read_model_dir(path)


def test_model_files_read_without_torch(tmp_path):
    import subprocess
    import sys

    _, _, path = _saved(tmp_path)
    code = ("import sys; sys.modules['torch'] = None\n"
            "from hbf_edge.modelfiles import read_model_dir\n"
            f"cfg, arrays = read_model_dir({str(path)!r})\n"
            "print(cfg.n_layers, arrays['mu'].shape, arrays['lam'].dtype)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["4", "(4,", "2)", "float64"]


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from hbf_edge._io import atomic_dir, atomic_file

    mask = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "f.txt") as tmp:
            tmp.write_text("x")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "g.txt").write_text("y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_code_search_setting_is_validated():
    import dataclasses

    spec = HardwareSpec(16, 4, 4, 2)
    base = ModelConfig("upga", spec, 2, 1, quantization={"output_xi": 1.0, "code_search": {"sweeps": 2, "span": 1}})
    assert base.code_search == {"sweeps": 2, "span": 1}
    assert dataclasses.replace(base, quantization={"output_xi": 1.0}).code_search is None
    for bad in ({"sweeps": 0, "span": 1}, {"sweeps": 2}, {"sweeps": 2, "span": True}, [2, 1], {"sweeps": 2, "span": 1.0}):
        with pytest.raises(ModelDirError, match="code_search"):
            dataclasses.replace(base, quantization={"output_xi": 1.0, "code_search": bad}).code_search
    with pytest.raises(ModelDirError, match="output stage"):
        dataclasses.replace(base, quantization={"code_search": {"sweeps": 2, "span": 1}}).code_search
