"""The documentation site builds without a warning, lists every public name, and renders.

The site (``docs/``, Sphinx with MyST and MyST-NB) is built once per test run
with ``sphinx-build -W`` into pytest's temporary directory: a warning (a
broken cross-reference, a public name with no entry, a docstring Sphinx cannot
read) fails it. Its inventory must then hold every name in the ``__all__`` of
``optx``, ``optx.keras``, ``optx.torch`` and their namespaces, each with an
anchor on its page, and no page may load a script or stylesheet from the
network.

A real browser then opens the built pages: headless Chromium (Debian's
``chromium`` package; ``.ci/run`` installs it), driven through the DevTools
protocol over a pipe. ``optx.adam``'s entry must show its equations typeset by
MathJax (no LaTeX source left) and its example, and the porting guides' tables
must have rows; no request may leave the machine. Screenshots of the entry and
of the tables are written to ``tests/_artifacts/docs/`` (git-ignored) and their
paths printed.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import importlib
import json
import os
import pathlib
import select
import shutil
import subprocess
import sys
import time
import types

import pytest

pytest.importorskip(
  "myst_nb",
  reason="the docs packages are missing: pip install -e '.[docs]' (or '.[test]')",
)
pytest.importorskip("sphinx_book_theme", reason="pip install -e '.[docs]'")
inventory = pytest.importorskip("sphinx.util.inventory")

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "_artifacts" / "docs"
BUILD_TIMEOUT_S = 600
BROWSER_TIMEOUT_S = 60
GUIDES = [
  "porting_keras",
  "porting_torch",
  "differences",
  "scale_out",
  "main_job",
  "performance",
  "guarantees",
]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> pathlib.Path:
  """The built site, once for all pytest-xdist workers (a lock in their common temp dir)."""
  shared = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    shared = shared.parent  # the run's directory, above each worker's
  out = shared / "docs-site"
  with open(shared / "docs-site.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (out / "result.json").exists():
      start = time.perf_counter()
      command = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
        "-d", str(out / "doctrees"), str(ROOT / "docs"), str(out / "html"),
      ]  # fmt: skip
      done = subprocess.run(
        command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, cwd=ROOT
      )
      result = {
        "returncode": done.returncode,
        "seconds": round(time.perf_counter() - start, 1),
        "output": (done.stdout + done.stderr)[-20000:],
      }
      (out / "result.json").write_text(json.dumps(result))
  result = json.loads((out / "result.json").read_text())
  print(f"docs: sphinx-build -W took {result['seconds']} s -> {out / 'html'}")
  assert result["returncode"] == 0, result["output"]
  return out / "html"


def _public_names() -> list[str]:
  """``module.name`` for every name in ``__all__`` of every namespace reached from optx."""
  names, seen, pending = [], set(), [importlib.import_module("optx")]
  while pending:
    module = pending.pop(0)
    if module.__name__ in seen:
      continue
    seen.add(module.__name__)
    for name in module.__all__:
      names.append(f"{module.__name__}.{name}")
      value = getattr(module, name)
      if isinstance(value, types.ModuleType) and value.__name__.startswith("optx"):
        pending.append(value)
  return names


def _inventory(site: pathlib.Path) -> dict[str, tuple[str, str]]:
  """Python objects of the site's objects.inv: full name -> (page, anchor)."""
  with open(site / "objects.inv", "rb") as stream:
    data = inventory.InventoryFile.load(stream, "", lambda base, uri: uri)
  found = {}
  for kind, entries in data.items():
    if kind.startswith("py:"):
      for name, entry in entries.items():
        uri = entry.uri if hasattr(entry, "uri") else entry[2]
        page, _, anchor = uri.partition("#")
        found[name] = page, anchor
  return found


def test_the_walk_covers_every_namespace():
  names = _public_names()
  for module in [
    "optx",
    "optx.keras",
    "optx.keras.optimizers",
    "optx.keras.optimizers.schedules",
    "optx.keras.callbacks",
    "optx.torch",
    "optx.torch.optim",
    "optx.torch.lr_scheduler",
  ]:
    assert any(name.startswith(module + ".") for name in names), module
  assert "optx.adam" in names and "optx.keras.schedules" in names


def test_site_builds_with_every_page(site):
  for page in ["index", "getting_started", "book", "development", *GUIDES]:
    assert (site / f"{page}.html").is_file(), page
  for notebook in sorted((ROOT / "colab").glob("*.ipynb")):
    assert (site / "notebooks" / f"{notebook.stem}.html").is_file(), notebook.name
  if (ROOT / "docs" / "equations.md").exists():
    assert (site / "equations.html").is_file()
  quickstart = (site / "getting_started.html").read_text()
  assert "exponential_schedule" in quickstart and "optx-jax @ git+" in quickstart


def test_every_public_name_has_an_entry(site):
  found = _inventory(site)
  missing = [name for name in _public_names() if name not in found]
  assert not missing, f"no entry in the API reference for {missing}"
  for name in _public_names():
    page, anchor = found[name]
    assert f'id="{anchor}"' in (site / page).read_text(), f"{page} has no #{anchor}"


def test_no_page_loads_from_the_network(site):
  assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
  for page in site.rglob("*.html"):
    text = page.read_text()
    for marker in ('<script src="http', '<script defer="defer" src="http'):
      assert marker not in text, page
    assert 'rel="stylesheet" href="http' not in text, page


# --- a real browser ----------------------------------------------------------


def _chromium() -> str:
  for name in ["chromium", "chromium-browser", "google-chrome"]:
    path = shutil.which(name)
    if path:
      return path
  pytest.skip(
    "Chromium not found: the browser checks of the docs need Debian's chromium"
    " package (apt-get install --no-install-recommends chromium; .ci/run does)"
  )


class Browser:
  """Headless Chromium driven through the DevTools protocol over a pipe."""

  def __init__(self, executable: str, profile: pathlib.Path):
    # Chromium reads commands on its fd 3 and writes replies on its fd 4. A
    # small Python puts the pipes there and execs it: no preexec_fn, so no
    # fork of this (multithreaded, JAX-running) process, only a spawn.
    to_chrome_r, self._to_chrome = os.pipe()
    self._from_chrome, from_chrome_w = os.pipe()
    theirs = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)]
    for fd in (to_chrome_r, from_chrome_w):
      os.close(fd)
    wire = (
      "import os, sys\n"
      "read, write = int(sys.argv[1]), int(sys.argv[2])\n"
      "os.dup2(read, 3); os.dup2(write, 4); os.close(read); os.close(write)\n"
      "os.execv(sys.argv[3], sys.argv[3:])"
    )
    flags = [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
      "--hide-scrollbars",
      f"--user-data-dir={profile}",
      "--remote-debugging-pipe",
    ]
    self._process = subprocess.Popen(
      [
        sys.executable,
        "-c",
        wire,
        *map(str, theirs),
        executable,
        *flags,
        "about:blank",
      ],
      stdin=subprocess.DEVNULL,
      stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL,
      pass_fds=theirs,
    )
    for fd in theirs:
      os.close(fd)
    self._buffer = b""
    self._next_id = 0
    self.events: list[dict] = []
    target = self.send("Target.createTarget", url="about:blank")["targetId"]
    self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
      "sessionId"
    ]
    self.send("Page.enable", session=True)
    self.send("Network.enable", session=True)
    self.send(
      "Emulation.setDeviceMetricsOverride",
      session=True,
      width=1280,
      height=1000,
      deviceScaleFactor=1,
      mobile=False,
    )

  def _read(self, deadline: float) -> dict:
    while b"\0" not in self._buffer:
      left = deadline - time.monotonic()
      ready, _, _ = select.select([self._from_chrome], [], [], max(left, 0))
      if not ready:
        raise TimeoutError("Chromium did not answer")
      chunk = os.read(self._from_chrome, 1 << 20)
      if not chunk:
        raise RuntimeError("Chromium closed the pipe")
      self._buffer += chunk
    message, self._buffer = self._buffer.split(b"\0", 1)
    return json.loads(message)

  def send(self, method: str, *, session: bool = False, **params) -> dict:
    self._next_id += 1
    message = {"id": self._next_id, "method": method, "params": params}
    if session:
      message["sessionId"] = self._session
    os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
    deadline = time.monotonic() + BROWSER_TIMEOUT_S
    while True:
      reply = self._read(deadline)
      if reply.get("id") == self._next_id:
        if "error" in reply:
          raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]
      self.events.append(reply)

  def _wait_for(self, method: str) -> None:
    deadline = time.monotonic() + BROWSER_TIMEOUT_S
    while not any(event.get("method") == method for event in self.events):
      self.events.append(self._read(deadline))

  def open(self, path: pathlib.Path) -> None:
    self.events.clear()
    self.send("Page.navigate", session=True, url=path.as_uri())
    self._wait_for("Page.loadEventFired")

  def evaluate(self, expression: str):
    reply = self.send(
      "Runtime.evaluate",
      session=True,
      expression=expression,
      awaitPromise=True,
      returnByValue=True,
    )
    assert "exceptionDetails" not in reply, reply["exceptionDetails"]
    return reply["result"].get("value")

  def requests(self) -> list[str]:
    return [
      event["params"]["request"]["url"]
      for event in self.events
      if event.get("method") == "Network.requestWillBeSent"
    ]

  def screenshot(self, selector_js: str, path: pathlib.Path) -> pathlib.Path:
    """A PNG of the element ``selector_js`` evaluates to, whole, wherever it is."""
    box = self.evaluate(
      f"(() => {{ window.scrollTo(0, 0); const r = ({selector_js}).getBoundingClientRect();"
      " return {x: r.left, y: r.top, width: r.width, height: r.height}; })()"
    )
    margin = 8
    clip = {
      "x": max(box["x"] - margin, 0),
      "y": max(box["y"] - margin, 0),
      "width": box["width"] + 2 * margin,
      "height": box["height"] + 2 * margin,
      "scale": 1,
    }
    data = self.send(
      "Page.captureScreenshot",
      session=True,
      format="png",
      clip=clip,
      captureBeyondViewport=True,
    )["data"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(data))
    return path

  def close(self) -> None:
    with contextlib.suppress(Exception):
      self.send("Browser.close")
    try:
      self._process.wait(timeout=10)
    except subprocess.TimeoutExpired:
      self._process.kill()
      self._process.wait()
    os.close(self._to_chrome)
    os.close(self._from_chrome)


@pytest.fixture
def browser(tmp_path):
  chrome = Browser(_chromium(), tmp_path / "chromium-profile")
  yield chrome
  chrome.close()


def _assert_offline(browser: Browser) -> None:
  remote = [url for url in browser.requests() if not url.startswith(("file:", "data:"))]
  assert not remote, f"the page asked the network for {remote}"


def test_adam_entry_shows_typeset_equations_and_its_example(site, browser):
  browser.open(site / "api" / "optimizers.html")
  browser.evaluate("MathJax.startup.promise")  # typesetting done
  entry = 'document.getElementById("optx.adam").closest("dl")'
  found = browser.evaluate(
    f"""(() => {{
      const entry = {entry};
      const examples = [...entry.querySelectorAll("p.rubric")]
        .filter(p => p.textContent.trim() === "Examples");
      const code = entry.querySelector("div.doctest, div.highlight-pycon, pre");
      return {{
        typeset: entry.querySelectorAll("mjx-container[display=true]").length,
        inline: entry.querySelectorAll("mjx-container:not([display])").length,
        glyphs: entry.querySelectorAll("mjx-container mjx-c").length,
        untypeset: entry.querySelectorAll("div.math, span.math").length
          - entry.querySelectorAll("div.math mjx-container, span.math mjx-container").length,
        text: entry.innerText,
        examples: examples.length,
        code: code ? code.innerText : "",
        mathjax: document.querySelector('script[src*="mathjax"]').src,
      }};
    }})()"""
  )
  assert found["typeset"] >= 2, found  # the update rule's two display equations
  assert found["inline"] >= 4 and found["glyphs"] > 50, found
  assert found["untypeset"] == 0, found
  for source in ["\\frac", "\\leftarrow", "\\beta", "\\sqrt", ":math:"]:
    assert source not in found["text"], f"raw LaTeX {source!r} left on the page"
  assert found["examples"] == 1
  assert ">>> tx = optx.adam(0.001)" in found["code"], found["code"]
  assert "-0.001000" in found["code"]
  assert found["mathjax"].startswith("file:"), found["mathjax"]
  for argument in ["learning_rate", "b1", "b2", "eps", "Returns"]:
    assert argument in found["text"]
  _assert_offline(browser)
  shot = browser.screenshot(entry, ARTIFACTS / "optx.adam.png")
  assert shot.stat().st_size > 10_000
  print(f"docs: screenshot of optx.adam's entry -> {shot}")


@pytest.mark.parametrize("guide", ["porting_keras", "porting_torch"])
def test_porting_guide_tables_render(site, browser, guide):
  browser.open(site / f"{guide}.html")
  tables = browser.evaluate(
    """[...document.querySelectorAll("article table")].map(t => ({
      header: t.querySelectorAll("thead th").length,
      rows: t.querySelectorAll("tbody tr").length,
      height: t.getBoundingClientRect().height,
    }))"""
  )
  assert tables, f"{guide}: no <table>"
  assert all(t["header"] >= 2 and t["rows"] >= 2 for t in tables), tables
  assert all(t["height"] > 40 for t in tables), tables
  _assert_offline(browser)
  # The table as a reader sees it: in the theme's scrolling frame when it is wide.
  table = 'document.querySelector("article table")'
  frame = f'({table}.closest(".pst-scrollable-table-container") || {table})'
  shot = browser.screenshot(frame, ARTIFACTS / f"{guide}_table.png")
  assert shot.stat().st_size > 5_000
  print(f"docs: screenshot of {guide}'s first table -> {shot}")
