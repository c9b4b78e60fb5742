"""docs/equations.md links every equation of the book to its lines and its test.

Each link into the source names, in its title, the code its first line holds:
when the code moves, the link fails here until the table follows it. Each
test link names a test function defined on the linked line. Every optimizer
and schedule of the book's chapter 11 has a row.
"""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "equations.md"
# [text](../path#La-Lb "snippet"), the snippet free of double quotes.
LINK = re.compile(
  r"\]\(\.\./(?P<path>[^#\s)]+)#L(?P<a>\d+)(?:-L(?P<b>\d+))?(?: \"(?P<title>[^\"]*)\")?\)"
)
LINKS = LINK.findall(TABLE.read_text())


def test_the_table_has_every_equation_of_the_chapter():
  rows = [
    line.split("|")[1].strip()
    for line in TABLE.read_text().splitlines()
    if line.startswith("| ") and not line.startswith("| The book")
  ]
  assert set(rows) >= {
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSProp",
    "Adam",
    "Power scheduling",
    "Exponential scheduling",
    "Piecewise constant scheduling",
    "Performance scheduling",
    "1cycle scheduling",
  }
  assert len(LINKS) >= 2 * len(rows)


@pytest.mark.parametrize(
  "path, a, b, title", LINKS, ids=[f"{p}#L{a}" for p, a, _, _ in LINKS]
)
def test_each_link_points_at_the_code_it_names(path, a, b, title):
  lines = (ROOT / path).read_text().splitlines()
  first, last = int(a), int(b or a)
  assert 1 <= first <= last <= len(lines), f"{path}#L{a}: past the end of the file"
  assert title, f"{path}#L{a}: give the link a title with the code of its first line"
  assert title in lines[first - 1], (
    f"{path}#L{first} no longer holds {title!r}; it is now at line "
    f"{[i for i, line in enumerate(lines, 1) if title in line]}"
  )
