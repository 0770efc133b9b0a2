"""The family registries: built-in lines, run-time registration and the entry-point group."""

import importlib.metadata
import sys
import types

import pytest

from hbf_edge.errors import ConfigError
from hbf_edge.families import CORE, SPECS, FamilySpec, _registry


def _family(name):
    spec = FamilySpec(name=name, paper="-", title="a plug-in", channel_axes=("B", "N", "K"), metrics=("m",),
                      formats=(), counter_sites=(), tiny=lambda: None)
    return types.SimpleNamespace(SPEC=spec, CORE=types.SimpleNamespace(spec=spec))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """Families registered here vanish after each test."""
    monkeypatch.setattr(_registry, "_RUNTIME", dict(_registry._RUNTIME))


def test_unknown_families_and_stages_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="unknown family 'nope'; known: upga, upganet, deepfp"):
        CORE.get("nope")
    from hbf_edge.kernels import REGISTRY

    name = _registry.register_family(_family("plugin_without_kernels"))
    with pytest.raises(ConfigError, match="has no kernels stage"):
        REGISTRY.get(name)
    with pytest.raises(ConfigError, match="already registered"):
        _registry.register_family(_family("plugin_without_kernels"))


def test_entry_point_group_is_read_once(monkeypatch):
    module = types.ModuleType("hbf_plugin_demo")
    fam = _family("ep_family")
    module.SPEC, module.CORE = fam.SPEC, fam.CORE
    monkeypatch.setitem(sys.modules, "hbf_plugin_demo", module)
    ep = importlib.metadata.EntryPoint(name="ep_family", value="hbf_plugin_demo", group=_registry.ENTRY_POINT_GROUP)
    calls = []

    def entry_points(group):
        calls.append(group)
        return [ep] if group == _registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(_registry.importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(_registry, "_entry_points_read", False)
    assert "ep_family" in CORE.names() and SPECS.get("ep_family") is fam.SPEC and CORE.get("ep_family") is fam.CORE
    CORE.names()
    assert calls == [_registry.ENTRY_POINT_GROUP]
