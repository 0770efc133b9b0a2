"""``hbf-edge report DIR``: one self-contained HTML page for a run folder.

It gathers every result file under the folder (``results.json``, ``retention.json``,
``profile.json``, ``simulate.json``: anything with an ``hbf-edge/<kind>/<version>`` schema),
renders their tables (:func:`hbf_edge.results.tables`, the same ones the CSV files hold), embeds
every PNG figure (base64, so the page is one file that can be mailed or archived), the model
settings of each ``config.json``, and the versions of the packages that produced them.  The page
is rendered from the Jinja2 template ``assets/report.html.j2`` with autoescaping.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from hbf_edge._io import atomic_file, read_json
from hbf_edge.errors import ConfigError
from hbf_edge.results import tables

__all__ = ["render_report"]

TEMPLATE = "report.html.j2"
MAX_DEPTH = 3  # run folders are shallow: DIR/stage/file
MAX_FIGURE_BYTES = 20 << 20
PACKAGES = ("hbf-edge", "numpy", "numba", "torch", "brevitas", "onnx", "onnxruntime")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _files(run_dir: Path, suffix: str) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(run_dir):
        depth = len(Path(root).relative_to(run_dir).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and depth < MAX_DEPTH)
        found += [Path(root) / n for n in sorted(names) if n.endswith(suffix) and not n.startswith(".")]
    return found


def _figure(path: Path, run_dir: Path) -> dict[str, str] | None:
    if path.stat().st_size > MAX_FIGURE_BYTES:
        return None
    return {"name": str(path.relative_to(run_dir)), "data": base64.b64encode(path.read_bytes()).decode("ascii")}


def _versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["python"] = platform.python_version()
    versions["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform(terse=True)}"
    return versions


def render_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the HTML report of ``run_dir`` (default ``run_dir/report.html``) and return its path."""
    import jinja2

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a folder: `hbf-edge report` reads a run folder")
    out = Path(out) if out is not None else run_dir / "report.html"
    sections, models, used = [], [], set()
    for path in _files(run_dir, ".json"):
        if path.name == "config.json":
            config = read_json(path, ConfigError)
            if isinstance(config, dict) and "family" in config:
                shown = {k: v for k, v in config.items() if k != "history"}
                models.append({"path": str(path.relative_to(run_dir)), "family": config["family"],
                               "text": json.dumps(shown, indent=2, sort_keys=True)})
            continue
        result = read_json(path, ConfigError) if path.stat().st_size < (64 << 20) else None
        if not isinstance(result, dict) or not str(result.get("schema", "")).startswith("hbf-edge/"):
            continue
        pngs = sorted(path.parent.glob("*.png"))
        used.update(pngs)
        figures = [f for f in (_figure(p, run_dir) for p in pngs) if f]
        sections.append({"path": str(path.relative_to(run_dir)), "schema": result["schema"],
                         "family": result.get("family"), "tables": tables(result), "figures": figures})
    loose = [f for f in (_figure(p, run_dir) for p in _files(run_dir, ".png") if p not in used) if f]
    if not sections and not loose:
        raise ConfigError(f"{run_dir} holds no hbf-edge results or figures to report")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "assets"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["cell"] = _cell
    html = env.get_template(TEMPLATE).render(
        title=run_dir.resolve().name, run_dir=str(run_dir), sections=sections, loose_figures=loose, models=models,
        figure_count=sum(len(s["figures"]) for s in sections) + len(loose), versions=_versions(),
        written=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    with atomic_file(out) as tmp:
        tmp.write_text(html)
    return out
