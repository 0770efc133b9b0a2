"""Compile and run the generated C datapath: the host compiler, the 32-bit ARM cross-compiler
under ``qemu-arm``, and the Cortex-M4 size report (the C emitter of each family writes the
sources; this module only drives the toolchains).

Every toolchain is a Debian package (README, "The two commands" has the apt-get line):
``gcc`` (host), ``gcc-arm-linux-gnueabihf`` with ``qemu-user`` (ARMv7, run under user-mode
emulation), ``gcc-arm-none-eabi`` (Cortex-M4, size only: no board to run on).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import threading
from pathlib import Path

from hbf_edge.errors import HbfEdgeError

__all__ = ["CBuildError", "Toolchain", "HOST", "HOST_SANITIZED", "ARM32", "STRICT_FLAGS", "CORTEX_M4_FLAGS",
           "CORTEX_M4", "TARGETS", "compiler_version", "harness", "build", "run", "cortex_m4_size", "soft_float_calls",
           "arm_instructions"]

# the bar for the datapath: C99, every warning an error
STRICT_FLAGS = ("-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror")
# freestanding: the library needs no C library, only the compiler's own <stdint.h>
CORTEX_M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-Os", "-ffreestanding", "-ffunction-sections",
                   "-fdata-sections")


class CBuildError(HbfEdgeError, RuntimeError):
    """A toolchain is missing, or the generated C does not compile or run."""


@dataclasses.dataclass(frozen=True)
class Toolchain:
    """A C compiler with its flags and, for a foreign ISA, the emulator that runs its programs."""

    name: str
    cc: str
    flags: tuple[str, ...] = ("-O2",)
    runner: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        """The programs of this toolchain that are not on PATH."""
        return [p for p in (self.cc, *self.runner[:1]) if shutil.which(p) is None]

    def available(self) -> bool:
        return not self.missing()


HOST = Toolchain("host", "cc")
HOST_SANITIZED = Toolchain("host+sanitizers", "cc", ("-O1", "-g", "-fno-omit-frame-pointer",
                                                       "-fsanitize=undefined,address",
                                                       "-fno-sanitize-recover=undefined"))
# -static: qemu-arm then needs no ARM sysroot
ARM32 = Toolchain("arm-linux-gnueabihf", "arm-linux-gnueabihf-gcc", ("-O2", "-static"), ("qemu-arm",))


def _require(tc: Toolchain) -> None:
    missing = tc.missing()
    if missing:
        raise CBuildError(f"the {tc.name} toolchain needs {', '.join(missing)} on PATH (README, "
                          "\"The two commands\", has the apt-get line)")


def compiler_version(cc: str) -> str:
    """First line of ``cc --version`` (recorded in the manifest beside the check)."""
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise CBuildError(f"cannot run {cc}: {exc}") from exc
    return out.splitlines()[0].strip() if out else cc


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if "error" in line or "warning" in line:
            return line.strip()
    return text.strip().splitlines()[0] if text.strip() else "(no output)"


def harness(work: Path, tc: Toolchain) -> Path:
    """Where the test harness built with ``tc`` goes in the scratch folder ``work`` (the check
    builds it there; the instruction count runs the same binary)."""
    return work / f"hbf_check.{tc.name}"


def build(src: Path, sources: list[str], out: Path, tc: Toolchain) -> Path:
    """Compile ``sources`` (names in ``src``) with the strict flags and ``tc``'s into ``out``."""
    _require(tc)
    cmd = [tc.cc, *STRICT_FLAGS, *tc.flags, "-I", str(src), *(str(src / s) for s in sources), "-o", str(out)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise CBuildError(f"{tc.cc} failed to start: {exc}") from exc
    if r.returncode != 0:
        raise CBuildError(f"{tc.name}: the generated C does not compile: {_first_error(r.stderr)}")
    return out


def run(exe: Path, data: bytes, tc: Toolchain, timeout: float = 3600.0) -> bytes:
    """Run ``exe`` (under ``tc``'s emulator) with ``data`` on stdin; its stdout."""
    _require(tc)
    try:
        r = subprocess.run([*tc.runner, str(exe)], input=data, capture_output=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise CBuildError(f"{exe.name} ({tc.name}) failed to run: {exc}") from exc
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace")
        raise CBuildError(f"{exe.name} ({tc.name}) exited with {r.returncode}: {_first_error(err)}")
    return r.stdout


CORTEX_M4 = Toolchain("cortex-m4", "arm-none-eabi-gcc", CORTEX_M4_FLAGS)
TARGETS = {"host": HOST, "sanitizers": HOST_SANITIZED, "arm32": ARM32, "cortex-m4": CORTEX_M4}
_SIZE_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+[0-9a-f]+\s+(.+)$")


def cortex_m4_size(src: Path, source: str, out_dir: Path) -> dict[str, int]:
    """Compile ``source`` for a Cortex-M4 (Thumb-2, soft-float ABI, ``-Os``) to an object and
    report its ``text``, ``data`` and ``bss`` bytes (``arm-none-eabi-size``) and the largest
    stack frame of its functions (``-fstack-usage``)."""
    _require(CORTEX_M4)
    if shutil.which("arm-none-eabi-size") is None:
        raise CBuildError("the Cortex-M4 size report needs arm-none-eabi-size (Debian: binutils-arm-none-eabi)")
    obj = build(src, [source], out_dir / (Path(source).stem + ".m4.o"),
                dataclasses.replace(CORTEX_M4, flags=(*CORTEX_M4.flags, "-fstack-usage", "-c")))
    size = subprocess.run(["arm-none-eabi-size", str(obj)], capture_output=True, text=True, check=True).stdout
    m = _SIZE_LINE.match(size.strip().splitlines()[-1])
    if m is None:
        raise CBuildError(f"cannot read arm-none-eabi-size's output: {size!r}")
    frames = [int(line.split("\t")[1]) for line in obj.with_suffix(".su").read_text().splitlines() if "\t" in line]
    return {"text": int(m[1]), "data": int(m[2]), "bss": int(m[3]), "max_stack_frame": max(frames, default=0)}


def soft_float_calls(obj: Path) -> list[str]:
    """Soft-float helper symbols (``__aeabi_f*``, ``__aeabi_d*``, ...) an ARM object calls: any
    floating-point operation compiled with ``-mfloat-abi=soft`` becomes one of these."""
    nm = shutil.which("arm-none-eabi-nm")
    if nm is None:
        raise CBuildError("arm-none-eabi-nm is not on PATH (Debian: binutils-arm-none-eabi)")
    out = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True).stdout
    pat = re.compile(r"__aeabi_[fd]\w*|__aeabi_[il]2[fd]|__(add|sub|mul|div)[sd]f3|__float\w+|__fix\w+")
    return sorted({m.group(0) for m in pat.finditer(out)})


def arm_instructions(exe: Path, one_channel: bytes, tc: Toolchain = ARM32) -> int:
    """Guest instructions the harness executes per channel under ``qemu-arm``: qemu's exec log
    in single-step mode has one line per instruction (streamed through a pipe and counted, never
    stored: a large model's log runs to gigabytes), run on one and on two copies of the same
    channel; the difference leaves out process start-up and I/O."""
    _require(tc)
    counts = []
    for copies in (1, 2):
        cmd = [tc.runner[0], "-singlestep", "-d", "exec,nochain", str(exe)]  # the log goes to stderr
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            raise CBuildError(f"qemu-arm could not count the instructions of {exe.name}: {exc}") from exc
        feeder = threading.Thread(target=lambda: (proc.stdin.write(one_channel * copies), proc.stdin.close()))
        feeder.start()
        n, tail = 0, b"\n"  # every log line starts after a newline, the first one too
        while chunk := proc.stderr.read(1 << 20):
            block = tail + chunk
            n += block.count(b"\nTrace")
            tail = block[-5:]  # a "\nTrace" cut by the chunk boundary is counted in the next block
        feeder.join()
        if proc.wait() != 0:
            raise CBuildError(f"qemu-arm exited with {proc.returncode} while counting the instructions of {exe.name}")
        counts.append(n)
    return counts[1] - counts[0]
