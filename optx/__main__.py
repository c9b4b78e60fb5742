"""``python -m optx``: the optimizer and schedule comparison run.

Parses the command line and calls :func:`optx.compare.main`; see
``python -m optx --help``.
"""

import sys

from optx import compare


def main() -> int:
  """Runs the comparison with ``sys.argv``; returns the exit status."""
  return compare.main(sys.argv[1:])


if __name__ == "__main__":
  sys.exit(main())
