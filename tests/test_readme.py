"""The README's Python examples run, and print what the README says they print."""

import contextlib
import io
import pathlib
import re

import jax
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block(index):
  code = BLOCKS[index]
  # The README uses Python's default promotion rules, not this suite's strict mode.
  out = io.StringIO()
  with jax.numpy_dtype_promotion("standard"), contextlib.redirect_stdout(out):
    exec(compile(code, f"README block {index}", "exec"), {})
  printed = out.getvalue().splitlines()
  expected = [m.group(1).strip() for m in re.finditer(r"print\(.*\)\s*#\s*(.*)", code)]
  assert len(printed) == len(expected)
  for line, comment in zip(printed, expected, strict=True):
    assert comment.startswith(line.strip()), (line, comment)


def test_development_commands_are_what_ci_runs():
  """The README shows, verbatim, the two commands that .ci/run runs."""
  ci = (README.parent / ".ci" / "run").read_text()
  tail = ci.split("# --- the README's commands, verbatim ---\n", 1)[1]
  commands = [line for line in tail.splitlines() if line and not line.startswith("#")]
  assert commands == ['pip install -e ".[test]"', "python -m pytest"]
  assert "```bash\n" + "\n".join(commands) + "\n```" in README.read_text()
