"""The optx API reference: namespaces written out from ``__all__``, and a coverage check.

optx's public names live in several namespaces, and one object is often public
under several of them (``optx.keras.Adam`` is ``optx.keras.optimizers.Adam``).
Each object gets one full entry, at its *home*: the most specific namespace
that lists it (``optx.keras.optimizers`` over ``optx.keras``). Every other name
for it gets a row in its namespace's table of aliases, a cross-reference target
of its own that links to the full entry.

- ``.. optx-namespace:: optx.torch.optim``, a reST directive (in a Markdown
  page, inside an ``{eval-rst}`` block: autodoc writes reST): the namespace's
  module docstring, a full entry (``autofunction``, ``autoclass``) for each
  name of its ``__all__`` whose home it is, and a table of its other names.
  The ``optx`` namespace itself is grouped by hand in ``docs/api/*.md``.
- The coverage check: every name in the ``__all__`` of every public namespace
  needs an entry (full or alias); a missing one is a warning, an error under
  ``sphinx-build -W``, naming the page to add it to.
- Bare names in docstrings (``:class:`OneCycleLR```) resolve to the public
  object of that name nearest the namespace the docstring is shown in.
"""

from __future__ import annotations

import importlib
import inspect
import types

from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

ROOT_MODULE = "optx"


def public_modules(root: str = ROOT_MODULE) -> dict[str, types.ModuleType]:
  """Every public namespace reached from ``root`` through ``__all__``, by real name."""
  found: dict[str, types.ModuleType] = {}
  pending = [importlib.import_module(root)]
  while pending:
    module = pending.pop(0)
    if module.__name__ in found:
      continue
    found[module.__name__] = module
    for name in getattr(module, "__all__", ()):
      value = getattr(module, name)
      if isinstance(value, types.ModuleType) and value.__name__.startswith(root):
        pending.append(value)
  return found


def public_names(root: str = ROOT_MODULE) -> list[str]:
  """``module.name`` for every name in the ``__all__`` of every public namespace."""
  return [
    f"{module_name}.{name}"
    for module_name, module in public_modules(root).items()
    for name in module.__all__
  ]


def homes(root: str = ROOT_MODULE) -> dict[int, str]:
  """The full name of each public object's entry: its most specific namespace."""
  home: dict[int, str] = {}
  depth: dict[int, int] = {}
  for module_name, module in public_modules(root).items():
    for name in module.__all__:
      value = getattr(module, name)
      if isinstance(value, types.ModuleType):
        home[id(value)] = value.__name__
        depth[id(value)] = 1 << 16
        continue
      level = module_name.count(".")
      if level > depth.get(id(value), -1):
        home[id(value)], depth[id(value)] = f"{module_name}.{name}", level
  return home


def _objtype(value: object) -> str:
  if isinstance(value, types.ModuleType):
    return "module"
  if inspect.isclass(value):
    return "class"
  if callable(value) and not hasattr(value, "__origin__"):
    return "function"
  return "data"


def _autodoc(value: object) -> str:
  kinds = {"class": "autoclass", "function": "autofunction"}
  return kinds.get(_objtype(value), "autodata")


class Namespace(SphinxDirective):
  """A namespace: its docstring, a full entry for each name it is home to, its aliases."""

  required_arguments = 1
  has_content = False

  def run(self) -> list[nodes.Node]:
    module_name = self.arguments[0]
    module = importlib.import_module(module_name)
    home = homes()
    lines = [f".. automodule:: {module_name}", "   :no-members:", ""]
    for name in module.__all__:
      value = getattr(module, name)
      full = f"{module_name}.{name}"
      if home.get(id(value)) == full and not isinstance(value, types.ModuleType):
        lines += [f".. {_autodoc(value)}:: {full}", ""]
    content = StringList(lines, source=f"<optx-namespace {module_name}>")
    container = nodes.section()
    container.document = self.state.document
    self.state.nested_parse(content, self.content_offset, container)
    return [*container.children, *self.alias_nodes(module_name)]

  def alias_nodes(self, module_name: str) -> list[nodes.Node]:
    module = importlib.import_module(module_name)
    home = homes()
    rows = []
    for name in module.__all__:
      value = getattr(module, name)
      full = f"{module_name}.{name}"
      target = home.get(id(value))
      if target is None or target == full:
        continue
      rows.append((full, target, _objtype(value)))
    if not rows:
      return []
    domain = self.env.domains["py"]
    table = nodes.table(classes=["optx-aliases"])
    group = nodes.tgroup(cols=2)
    table += group
    group += nodes.colspec(colwidth=1)
    group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    head += self._row(nodes.Text("Name"), nodes.Text("Same object as"))
    body = nodes.tbody()
    group += body
    for full, target, objtype in rows:
      anchor = nodes.inline(ids=[full])
      anchor += nodes.literal(full, full)
      reference = addnodes.pending_xref(
        "",
        nodes.literal(target, target),
        refdomain="py",
        reftype="mod" if objtype == "module" else "obj",
        reftarget=target,
        refdoc=self.env.docname,
        refexplicit=True,
      )
      domain.note_object(full, objtype, full, location=anchor)
      if objtype == "module":  # the inventory lists modules from here
        domain.note_module(full, full, f"The namespace {target}.", "", False)
      body += self._row(anchor, reference)
    return [table]

  @staticmethod
  def _row(*cells: nodes.Node) -> nodes.row:
    row = nodes.row()
    for content in cells:
      entry = nodes.entry()
      paragraph = nodes.paragraph()
      paragraph += content
      entry += paragraph
      row += entry
    return row


def check_coverage(app: Sphinx, env) -> None:
  """A warning for each public name with no entry in the API reference."""
  documented = env.domains["py"].objects
  for full in public_names():
    if full not in documented:
      module_name = full.rpartition(".")[0]
      logger.warning(
        "optx API reference: %s (in %s.__all__) has no entry; add it to a page of"
        " docs/api/ (an autofunction/autoclass line, or an optx-namespace directive)",
        full,
        module_name,
        type="optx",
        subtype="api",
      )


def resolve_short_name(app: Sphinx, env, node, contnode):
  """A bare name in a docstring (``:class:`OneCycleLR```) means the public object
  of that name nearest the namespace the docstring is shown in.

  Sphinx looks a bare name up in the current module only; a flavor's
  docstrings name their siblings (``optx.torch.optim.SGD`` names the scheduler
  ``OneCycleLR`` of ``optx.torch.lr_scheduler``). Of the public objects so
  named, the one whose entry shares the longest dotted prefix with the current
  module wins; a tie stays unresolved (and warns).
  """
  if node.get("refdomain") != "py" or "." in node["reftarget"]:
    return None
  target = node["reftarget"]
  current = (node.get("py:module") or ROOT_MODULE).split(".")
  home = homes()
  candidates = set()
  for module_name, module in public_modules().items():
    if target in module.__all__:
      candidates.add(home.get(id(getattr(module, target)), f"{module_name}.{target}"))

  def shared(full: str) -> int:
    count = 0
    for a, b in zip(full.split(".")[:-1], current, strict=False):
      if a != b:
        break
      count += 1
    return count

  ranked = sorted(candidates, key=shared, reverse=True)
  if not ranked or (len(ranked) > 1 and shared(ranked[0]) == shared(ranked[1])):
    return None
  domain = env.domains["py"]
  return domain.resolve_xref(
    env, node["refdoc"], app.builder, "obj", ranked[0], node, contnode
  )


def skip_namedtuple_fields(app, what, name, obj, skip, options):
  """NamedTuple fields document themselves as "Alias for field number N": skip them."""
  del app, what, name, options
  if (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
    return True
  return skip


def setup(app: Sphinx) -> dict:
  app.connect("missing-reference", resolve_short_name)
  app.connect("autodoc-skip-member", skip_namedtuple_fields)
  app.add_directive("optx-namespace", Namespace)
  app.connect("env-check-consistency", check_coverage)
  return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
