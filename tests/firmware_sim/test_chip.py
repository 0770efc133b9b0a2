"""The chip's register map, shadow registers, beam RAM, and rejection of invalid frames."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hbf_edge.firmware_sim import REG, Chip, FrontEnd, decode, frame


def test_frames_round_trip_and_bad_fields():
    word = frame(False, 3, 0x1ABC, 0x5A)
    assert word < 1 << 24 and decode(word) == (False, 3, 0x1ABC, 0x5A)
    assert decode(frame(True, 0, 1, 0)) == (True, 0, 1, 0)
    for bad in [(False, 4, 0, 0), (False, 0, 1 << 13, 0), (False, 0, 0, 256)]:
        with pytest.raises(ValueError):
            frame(*bad)


def test_reset_values_shadow_and_load():
    chip = Chip(4, 8)
    assert chip.transact(True, REG["CHIP_ID"], 0) == 0x10
    assert chip.transact(True, REG["CH_I"], 0) == 0x20 and chip.transact(True, REG["CH_GAIN"] + 3, 0) == 0x7F
    assert chip.transact(False, REG["CH_I"] + 3, 0x25) is True  # channel 1, Q byte
    assert chip.applied_iq[1, 1] == 0x20 and chip.shadow_iq[1, 1] == 0x25  # not applied yet
    assert chip.transact(True, REG["STATUS"], 0) == 1
    assert chip.transact(False, REG["LOAD"], 0x01) is True
    assert chip.applied_iq[1, 1] == 0x25 and chip.transact(True, REG["STATUS"], 0) == 0


def test_beam_ram_recall():
    chip = Chip(2, 3)
    base = REG["RAM"] + 2 * 2 * 2  # state 2
    for off, value in enumerate([0x3F, 0x01, 0x22, 0x13]):
        assert chip.transact(False, base + off, value) is True
    assert chip.transact(False, REG["RECALL"], 2) is True
    assert chip.applied_iq.tolist() == [[0x3F, 0x01], [0x22, 0x13]]


@pytest.mark.parametrize("read,address,data,reason", [
    (False, 0x0FFF, 0, "unknown_address"),
    (False, REG["CHIP_ID"], 1, "read_only"),
    (False, REG["STATUS"], 0, "read_only"),
    (False, REG["CH_I"], 0x40, "out_of_range"),
    (False, REG["LOAD"], 0x02, "out_of_range"),
    (False, REG["RECALL"], 8, "out_of_range"),
    (True, 0x0FFF, 0, "unknown_address"),
])
def test_invalid_transactions_are_rejected_and_counted(read, address, data, reason):
    chip = Chip(4, 8)
    before = (chip.shadow_iq.copy(), chip.applied_iq.copy(), chip.ram.copy())
    assert chip.transact(read, address, data) is False
    assert chip.rejected[reason] == 1
    assert all(np.array_equal(a, b) for a, b in zip(before, (chip.shadow_iq, chip.applied_iq, chip.ram)))


def test_malformed_frames_and_absent_chips_on_the_bus():
    front = FrontEnd(8, 2, channels_per_chip=4, chips_per_bus=4)  # 4 chips on 1 bus
    for word in (-1, 1 << 24, 3.5, "x", None, True):
        assert front.send(0, word) is False
    assert front.rejected()["malformed"] == 6
    three = FrontEnd(8, 1, channels_per_chip=4, chips_per_bus=4)  # 2 chips: addresses 2, 3 absent
    assert three.send(0, frame(False, 3, REG["CH_I"], 0x21)) is False
    assert three.rejected()["unknown_address"] == 1


def test_latency_of_the_two_programming_modes():
    front = FrontEnd(64, 4, channels_per_chip=4, chips_per_bus=4, spi_hz=25e6)  # 64 chips, 16 buses
    codes = np.zeros((64, 4), np.int64)
    vm = np.array([0x3F, 0x20], np.int64)
    direct = front.direct_sequence(codes, vm, vm)
    assert len(direct) == 16 and all(len(f) == 4 * (2 * 4 + 1) for f in direct)
    assert front.latency_s(direct) == pytest.approx(36 * 24 / 25e6)
    assert front.latency_s(front.recall_sequence(0)) == pytest.approx(4 * 24 / 25e6)
    with pytest.raises(ValueError):
        front.preload_sequence([codes] * 122, vm, vm)


def _state(front):
    return [(c.applied_iq.copy(), c.applied_gain.copy()) for c in front.chips]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.integers(min_value=-(1 << 30), max_value=1 << 30),  # random words, many malformed
    st.builds(frame, st.booleans(), st.integers(0, 3), st.integers(0, (1 << 13) - 1), st.integers(0, 255)),
    st.builds(frame, st.just(False), st.integers(0, 3), st.sampled_from([REG["LOAD"], REG["RECALL"]]),
              st.integers(0, 255)),
), max_size=60))
def test_fuzzed_frames_change_the_applied_state_only_by_valid_writes_and_a_strobe(words):
    """Property: the applied state equals a model that applies only valid shadow writes at a
    valid LOAD and valid RAM states at a valid RECALL; everything else changes nothing."""
    front = FrontEnd(8, 1, channels_per_chip=4, chips_per_bus=2, n_states=5)  # 2 chips, 1 bus
    shadow = [[c.shadow_iq.copy(), c.shadow_gain.copy(), c.ram.copy()] for c in front.chips]
    applied = _state(front)
    for w in words:
        front.send(0, w)
        valid = isinstance(w, int) and 0 <= w < 1 << 24
        read, addr, reg, data = decode(w) if valid else (True, 0, 0, 0)
        if valid and not read and addr < 2:
            sh_iq, sh_gain, ram = shadow[addr]
            if reg == REG["LOAD"] and data == 1:
                applied[addr] = (sh_iq.copy(), sh_gain.copy())
            elif reg == REG["RECALL"] and data < 5:
                applied[addr] = (ram[data].copy(), applied[addr][1])
                shadow[addr][0] = ram[data].copy()
            elif REG["CH_I"] <= reg < REG["CH_I"] + 8 and data <= 0x3F:
                sh_iq[(reg - REG["CH_I"]) // 2, (reg - REG["CH_I"]) % 2] = data
            elif REG["CH_GAIN"] <= reg < REG["CH_GAIN"] + 4:
                sh_gain[reg - REG["CH_GAIN"]] = data
            elif REG["RAM"] <= reg < REG["RAM"] + 8 * 5 and data <= 0x3F:
                off = reg - REG["RAM"]
                ram[off // 8, (off % 8) // 2, off % 2] = data
        got = _state(front)  # checked after every frame, malformed and reads included
        assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(got, applied))
