"""The precision advisor's search, shared by the families with an integer datapath (numpy-free).

Greedy, per format in a given order: drop integer bits (range) one at a time while the design
keeps ``retention >= target``, then fraction bits (resolution), each step one bit of the word;
a step that misses the target, or formats the datapath cannot run (``retention`` returns None),
ends that direction.  The result is sufficient, not the global minimum (the formats interact).
The family supplies ``retention(bits)``: the hardware datapath's metric over the float
network's on its channels, for formats ``{name: (word_bits, frac_bits)}``.
"""

from __future__ import annotations

from typing import Any, Callable

from hbf_edge.errors import ConfigError

__all__ = ["greedy_bits", "advisor_lines"]

Bits = dict[str, tuple[int, int]]


def greedy_bits(start: Bits, order: tuple[str, ...], retention: Callable[[Bits], float | None], target: float,
                say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """The search of the module docstring from ``start`` (which must meet ``target``): the
    formats found (``bits``), the retention at the start (``base``) and at the end (``kept``),
    one ``steps`` entry per format, and the number of ``evaluations``."""
    if not 0 < target <= 1.5:
        raise ConfigError(f"the retention target must be in (0, 1.5], got {target}")
    base = retention(start)
    if base is None or base < target:
        shown = "none (the formats cannot run)" if base is None else f"{base:.4f}"
        raise ConfigError(f"the model's own formats keep {shown} of the float metric, below the target {target}: "
                          "the advisor only removes bits")
    best, kept, steps, evaluations = dict(start), base, [], 1
    for name in order:
        word, frac = best[name]
        for drop_int in (True, False):  # integer bits (range) first, then fraction bits (resolution)
            while word > 2 and (drop_int and word - frac > 1 or not drop_int and frac > 0):
                cand = {**best, name: (word - 1, frac if drop_int else frac - 1)}
                r = retention(cand)
                evaluations += 1
                if r is None or r < target:
                    break
                best, kept = cand, r
                word, frac = cand[name]
        steps.append({"format": name, "from": list(start[name]), "to": [word, frac]})
        say(f"hbf-edge: advisor: {name} {start[name][0]}.{start[name][1]} -> {word}.{frac} bits (word.frac)")
    return {"bits": best, "base": base, "kept": kept, "steps": steps, "evaluations": evaluations}


def advisor_lines(adv: dict[str, Any]) -> list[str]:
    """The advisor's outcome in a numerical profile's text: every format's step, the word bits
    and the retention before, after and on fresh channels."""
    r = adv["retention"]
    return [f"advisor (target {adv['target']}): " + ", ".join(
                f"{s['format']} {s['from'][0]}.{s['from'][1]}->{s['to'][0]}.{s['to'][1]}" for s in adv["steps"]),
            f"  word bits {adv['total_word_bits']['model']} -> {adv['total_word_bits']['advised']}; retention "
            f"{r['model']:.4f} -> {r['advised']:.4f}, on fresh channels {r['advised_fresh_channels']:.4f} "
            f"({'meets' if adv['meets_target_on_fresh_channels'] else 'MISSES'} the target)"]
