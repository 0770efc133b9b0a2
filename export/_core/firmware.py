"""``hbf-edge firmware BUNDLE``: build the bundle's C datapath with each toolchain and verify it
against the bundle's own test vectors (``hbf_inputs.bin`` -> ``hbf_expected.bin``, the hardware
kernel's outputs), or, for the Cortex-M4, report its size and that it calls no floating point.

The family's exporter supplies the check (``check_c`` of its export stage); this module only
chooses the toolchains and collects the results.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from hbf_edge.export._core import ctool
from hbf_edge.export._core.bundle import BundleError, read_bundle

__all__ = ["verify_firmware", "C_SOURCES"]

C_SOURCES = ("hbf_model.h", "hbf_model.c", "hbf_check.c", "hbf_inputs.bin", "hbf_expected.bin")


def _chosen(targets: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """The targets to run and, without an explicit list, the ones left out for want of tools."""
    if targets is None:
        skipped = {t: f"needs {', '.join(tc.missing())}" for t, tc in ctool.TARGETS.items() if not tc.available()}
        return [t for t in ctool.TARGETS if t not in skipped], skipped
    unknown = sorted(set(targets) - set(ctool.TARGETS))
    if unknown:
        raise ctool.CBuildError(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(ctool.TARGETS)}")
    return list(dict.fromkeys(targets)), {}


def verify_firmware(path: str | Path, check: Callable[[Path, Path, ctool.Toolchain], dict[str, Any]],
                    targets: list[str] | None = None, instructions: bool = False,
                    say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run ``check(bundle, workdir, toolchain)`` for every chosen target (default: every target
    whose toolchain is installed) and the Cortex-M4 size report; with ``instructions``, count
    the ARM instructions per channel under qemu.  Raises ``CBuildError`` on the first failure."""
    path = Path(path)
    bundle = read_bundle(path)
    missing = [n for n in C_SOURCES if n not in bundle.manifest["files"]]
    if missing:
        raise BundleError(f"{path} has no C datapath ({', '.join(missing)} missing): its family's exporter does "
                          "not emit one, or the bundle predates it (export it again)")
    chosen, skipped = _chosen(targets)
    if instructions and "arm32" not in chosen:
        raise ctool.CBuildError("--instructions counts under qemu-arm: it needs the arm32 target")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hbf_fw_") as work:
        for name in chosen:
            tc = ctool.TARGETS[name]
            say(f"hbf-edge: firmware: {name} ...")
            t0 = time.perf_counter()
            if name == "cortex-m4":
                res = ctool.cortex_m4_size(path, "hbf_model.c", Path(work))
                calls = ctool.soft_float_calls(Path(work) / "hbf_model.m4.o")
                if calls:
                    raise ctool.CBuildError(f"cortex-m4: the datapath calls floating-point helpers: {', '.join(calls)}")
                res.update({"flags": " ".join((*ctool.STRICT_FLAGS, *tc.flags)), "soft_float_calls": 0})
            else:
                res = check(path, Path(work), tc)
            res["seconds"] = round(time.perf_counter() - t0, 2)
            results[name] = res
        if instructions:
            say("hbf-edge: firmware: counting ARM instructions per channel under qemu-arm ...")
            exe = ctool.harness(Path(work), ctool.ARM32)  # built by the arm32 check above
            words = (path / "hbf_inputs.bin").read_bytes()
            n = results["arm32"]["channels"]
            results["arm32"]["instructions_per_channel"] = ctool.arm_instructions(exe, words[:len(words) // n])
    return {"bundle": str(path), "family": bundle.manifest.get("family", "upga"), "targets": results,
            "skipped": skipped}
