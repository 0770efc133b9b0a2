"""Installed names: every package folder is listed in pyproject.toml, all under hbf_edge."""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_every_package_installs_under_the_hbf_edge_namespace():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(project["packages"])
    assert all(name == "hbf_edge" or name.startswith("hbf_edge.") for name in listed)
    assert project["package-dir"] == {"hbf_edge": "hbf_edge", "hbf_edge.kernels": "kernels", "hbf_edge.quant": "quant",
                                      "hbf_edge.export": "export", "hbf_edge.firmware_sim": "firmware_sim"}
    found = set()
    for folder, prefix in (("hbf_edge", "hbf_edge"), ("kernels", "hbf_edge.kernels"), ("quant", "hbf_edge.quant"),
                           ("export", "hbf_edge.export"), ("firmware_sim", "hbf_edge.firmware_sim")):
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((prefix, *rel)))
    assert found == listed, f"not listed: {sorted(found - listed)}; listed but absent: {sorted(listed - found)}"


def test_kernels_and_the_simulator_import_without_torch():
    """... and the quant package for its registry and precision (a refused ``sweep`` spec takes
    1.0 s instead of 4.2 s without Brevitas)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None; sys.modules['brevitas'] = None; "
            "import hbf_edge.kernels, hbf_edge.firmware_sim, hbf_edge.families; "
            "from hbf_edge.kernels import REGISTRY; [REGISTRY.get(n) for n in REGISTRY.names()]; "
            "from hbf_edge.quant import REGISTRY as Q, PrecisionConfig; assert Q.has('upga') and 'QuantUPGA' in dir(sys.modules['hbf_edge.quant'])")
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")
