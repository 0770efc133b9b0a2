"""The exporter's lint skip: off inside the block only, restored on any exit."""

import pytest
import torch

from hbf_edge.export._core.trace import without_jit_lint


def test_the_lint_pass_is_skipped_inside_the_block_and_restored_after_it():
    lint = torch._C._jit_pass_lint
    with without_jit_lint():
        assert torch._C._jit_pass_lint is not lint
        assert torch._C._jit_pass_lint(object()) is None  # anything passes: nothing is checked
    assert torch._C._jit_pass_lint is lint
    with pytest.raises(RuntimeError, match="boom"), without_jit_lint():
        raise RuntimeError("boom")
    assert torch._C._jit_pass_lint is lint
