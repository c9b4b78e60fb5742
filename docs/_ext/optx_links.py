"""Links from the guides and the README to repository files that are not pages.

The guides are written to be read on GitHub too: they link test files
(``../tests/test_reliability.py``), the benchmarks' README and ``colab/``, and
the README links ``CHANGELOG.md``. None of those is a page of the site, so the
site links them to the repository instead: a Markdown link whose target,
taken relative to the file it is written in, is a file or folder of the
repository outside ``docs/`` becomes a link to it on GitHub. Everything else
is left to MyST, and an unresolved link still fails the build.
"""

from __future__ import annotations

import pathlib
import re

from sphinx.application import Sphinx

# [text](target) or [text](target "title"), not an image; text may hold one
# level of brackets ([`x[0]`](...)).
LINK = re.compile(
  r"(?<!!)(?P<text>\[(?:[^\[\]\n]|\[[^\[\]\n]*\])*\])"
  r"\((?P<target>[^()\s#]+)(?P<anchor>#[^()\s]*)?(?P<title>\s+\"[^\"]*\")?\)"
)


def _rewrite(text: str, directory: pathlib.Path, root: pathlib.Path, url: str) -> str:
  docs = root / "docs"

  def replace(match: re.Match) -> str:
    target = match["target"]
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # https:, mailto:, project:
      return match[0]
    path = (directory / target).resolve()
    if not path.exists() or not path.is_relative_to(root) or path.is_relative_to(docs):
      return match[0]
    kind = "tree" if path.is_dir() else "blob"
    relative = path.relative_to(root).as_posix()
    anchor, title = match["anchor"] or "", match["title"] or ""
    return f"{match['text']}({url}/{kind}/main/{relative}{anchor}{title})"

  return LINK.sub(replace, text)


def _root(app: Sphinx) -> pathlib.Path:
  return pathlib.Path(app.srcdir).resolve().parent


def on_source_read(app: Sphinx, docname: str, source: list[str]) -> None:
  path = pathlib.Path(app.env.doc2path(docname))
  if path.suffix == ".md":
    url = app.config.optx_repository
    source[0] = _rewrite(source[0], path.resolve().parent, _root(app), url)


def on_include_read(app, relative_path, parent_docname, content: list[str]) -> None:
  path = (pathlib.Path(app.srcdir) / relative_path).resolve()
  if path.suffix == ".md":
    url = app.config.optx_repository
    content[0] = _rewrite(content[0], path.parent, _root(app), url)


def setup(app: Sphinx) -> dict:
  app.add_config_value("optx_repository", "", "env", types=[str])
  app.connect("source-read", on_source_read)
  app.connect("include-read", on_include_read)
  return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
