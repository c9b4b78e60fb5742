"""Sphinx configuration of the optx documentation site.

Build it from the repository's root (``pip install -e ".[docs]"`` first):

    sphinx-build -W -b html docs docs/_build/html

Markdown pages through MyST, the notebooks of ``colab/`` through MyST-NB with
the outputs they are saved with (none: they are not executed here; the tests
execute them), the API reference from the docstrings (autodoc, napoleon for
their Google-style sections). The build reaches no network: MathJax is served
from the site itself (sphinx-mathjax-offline) and there is no intersphinx.
"""

from __future__ import annotations

import pathlib
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the checkout's optx, installed or not
sys.path.insert(0, str(DOCS / "_ext"))

import optx  # noqa: E402

project = "optx"
author = "The optx authors"
copyright = "The optx authors"
release = version = optx.__version__
REPOSITORY = "https://github.com/optx-dev/optx"

extensions = [
  "myst_nb",
  "sphinx.ext.autodoc",
  "sphinx.ext.autosummary",
  "sphinx.ext.napoleon",
  "sphinx.ext.mathjax",
  "sphinx-mathjax-offline",
  "optx_api",
  "optx_links",
]

exclude_patterns = ["_build", "_ext", "**/.ipynb_checkpoints", "README.md"]
nitpicky = True
# No intersphinx (the build is offline): names from other projects stay plain
# text. Every reference to optx itself must resolve.
nitpick_ignore_regex = [
  (
    r"py:.*",
    r"(jax|jaxlib|optax|numpy|np|jnp|chex|flax|orbax|torch|keras|typing|"
    r"collections|types|abc|enum|dataclasses)(\..*)?",
  ),
  (r"py:.*", r"(ArrayLike|Array|Any|Callable|Sequence|Mapping|NamedTuple)"),
]

# MyST and MyST-NB.
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # tests/test_notebooks.py executes them
nb_merge_streams = True

# The API reference.
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}  # a class's public methods
# The docstrings' Args say what each argument takes ("a float, an array or a
# schedule"); annotations would print ArrayLike and ScalarOrSchedule expanded.
autodoc_typehints = "none"
autodoc_preserve_defaults = True
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# The site.
html_theme = "sphinx_book_theme"
html_title = "optx"
html_theme_options = {
  "repository_url": REPOSITORY,
  "repository_branch": "main",
  "path_to_docs": "docs",
  "use_repository_button": True,
  "show_toc_level": 2,
}
html_last_updated_fmt = None
optx_repository = REPOSITORY


def _without_missing_pages(app, docname, source):
  """docs/equations.md is being written: its toctree entry waits for the file."""
  if docname == "index" and not (DOCS / "equations.md").exists():
    source[0] = source[0].replace("\nequations\n", "\n")


def setup(app):
  app.connect("source-read", _without_missing_pages)
