"""The README's CLI reference is the parser's: regenerate it and compare (fails on any drift)."""

from pathlib import Path

from hbf_edge.cli._reference import BEGIN, END, cli_reference, main

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_reference_equals_the_parser():
    text = README.read_text()
    assert BEGIN in text and END in text, "README.md lost its CLI reference markers"
    in_readme = BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END
    assert in_readme == cli_reference(), ("the CLI changed: run `python -m hbf_edge.cli._reference --write README.md`")


def test_the_reference_lists_every_command_and_option(tmp_path):
    ref = cli_reference()
    for needle in ("<code>hbf-edge train upga</code>", "<code>hbf-edge quantize MODEL_DIR  (deepfp model)</code>",
                   "`--count COUNT`", "`--phase-bits PHASE_BITS`, `-Q`", "<code>hbf-edge report</code>"):
        assert needle in ref
    assert "--test-size" not in ref  # former spellings stay out of the reference
    readme = tmp_path / "R.md"
    readme.write_text(f"intro\n{BEGIN}\nstale\n{END}\noutro\n")
    assert main(["--write", str(readme)]) == 0
    assert readme.read_text() == f"intro\n{ref}\noutro\n"
