"""The package's layout (docs/architecture.md): no import circles, modules small enough to
read, and the Sherpa model names that ``import sherpa_rim`` registers."""
import ast
import pathlib
import re

import pytest

import sherpa_rim
from sherpa_rim.models import MODEL_CLASSES

PKG = pathlib.Path(sherpa_rim.__file__).resolve().parent
ROOT = PKG.parent
MAX_LINES = 400


def _modules():
    """{dotted name: path} for every module of sherpa_rim/ and training/."""
    out = {}
    for top in ("sherpa_rim", "training"):
        for p in sorted((ROOT / top).rglob("*.py")):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    # the shipped models' folder is the subpackage sherpa_rim.onnx_models (pyproject package-dir)
    out["sherpa_rim.onnx_models"] = ROOT / "onnx_models" / "__init__.py"
    return out


def _resolve(module, is_package, node):
    """Absolute names an import node brings in (module-level or inside a function)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def import_graph():
    """{module: {modules it imports}} over sherpa_rim/ and training/, from every import
    statement (at any depth: module level, in functions, in classes). Importing
    ``a.b.c`` also runs the packages ``a.b`` and ``a``: those edges are kept, except to the
    importing module's own parent packages and to the root package ``sherpa_rim`` (which
    every submodule's import passes through)."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        own = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = _resolve(name, is_pkg, node)
            if isinstance(node, ast.Import):
                targets = [n for n in names if n in mods]
            else:
                # ``from base import a, b``: a submodule a is imported as a module; any other
                # name is an attribute of base, which must then have run
                targets = [n for n in names[1:] if n in mods]
                if names[0] in mods and len(targets) < len(names) - 1:
                    targets.append(names[0])
            for t in targets:
                parts = t.split(".")
                for k in range(1, len(parts) + 1):
                    a = ".".join(parts[:k])
                    if a in mods and a != name and a not in own and a != "sherpa_rim":
                        edges.add(a)
                if t == "sherpa_rim" and name != "sherpa_rim":
                    edges.add(t)
        graph[name] = edges
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan), or self-loops."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_sees_function_level_imports():
    g = import_graph()
    # a function-level import (the SPI command imports sherpa.astro.ui inside spi()) and
    # package-level edges: commands -> sherpa_rim.rim.deconvolver -> its package
    assert "sherpa_rim.rim.deconvolver" in g["sherpa_rim.cli.commands"]
    assert "sherpa_rim.rim" in g["sherpa_rim.models.rim"]
    assert "sherpa_rim.amortised.dae" in g["sherpa_rim.rim.deconvolver"]
    assert "training.params" in g["training.export"]


def test_cycle_finder_finds_a_planted_circle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(g) == [["a", "b", "c"]]


def test_no_import_circles():
    cyc = _cycles(import_graph())
    assert not cyc, "import circles (docs/architecture.md lists the layers): " + "; ".join(
        " <-> ".join(c) for c in cyc)


def test_no_module_over_400_lines_unless_the_architecture_says_why():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    allowed = set(re.findall(r"`(sherpa_rim/[\w/]+\.py)` \(\d+ lines\)", doc))
    long = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
            for p in PKG.rglob("*.py")}
    over = {p: n for p, n in long.items() if n > MAX_LINES and p not in allowed}
    assert not over, f"modules over {MAX_LINES} lines not explained in docs/architecture.md: {over}"


def test_registered_sherpa_model_names_and_count():
    from sherpa.astro import ui
    names = sorted(cls.__name__.lower() for cls in MODEL_CLASSES)
    assert names == ["areacorr", "bcie", "bvcie", "cie", "gainshift", "mmabs", "rimspec", "spi",
                     "vcie"]
    assert len(MODEL_CLASSES) == 9
    registered = set(ui.list_models())
    for n in names:
        assert n in registered
        comp = ui.create_model_component(n, f"layout_{n}")
        assert type(comp).__name__.lower() == n
        ui.delete_model_component(f"layout_{n}")


@pytest.mark.parametrize("kind", ["cie", "vcie", "bcie", "bvcie", "mmabs", "rimspec", "spi",
                                  "gainshift", "areacorr"])
def test_each_model_type_is_in_the_sherpa_session(kind):
    from sherpa.astro import ui
    assert kind in ui.list_models("all")


# docs/architecture.md, "The layers": 1 is the top; a module may import its own layer or below
LAYERS = [
    (1, ("sherpa_rim", "sherpa_rim.cli", "sherpa_rim.demo")),
    (2, ("sherpa_rim.models", "sherpa_rim.stats", "sherpa_rim.session", "sherpa_rim.crosscal",
         "sherpa_rim.batch")),
    (3, ("sherpa_rim.rim", "sherpa_rim.amortised", "sherpa_rim.spi", "sherpa_rim.baselines")),
    (4, ("sherpa_rim.runtime", "sherpa_rim.sim", "sherpa_rim.observation", "sherpa_rim.poisson")),
    (5, ("sherpa_rim.response", "sherpa_rim.emission", "sherpa_rim.metrics", "sherpa_rim.plotting")),
    (6, ("sherpa_rim.errors", "sherpa_rim._logging", "sherpa_rim.onnx_models")),
]


def _layer(module):
    best = None
    for level, prefixes in LAYERS:
        for p in prefixes:
            if module == p or (p != "sherpa_rim" and module.startswith(p + ".")):
                if best is None or len(p) > best[1]:
                    best = (level, len(p))
    return None if best is None else best[0]


def test_every_package_module_has_a_layer():
    missing = [m for m in import_graph() if m.startswith("sherpa_rim") and _layer(m) is None]
    assert not missing


def test_no_import_goes_up_a_layer():
    g = import_graph()
    up = [f"{a} ({_layer(a)}) -> {b} ({_layer(b)})" for a, edges in g.items()
          if a.startswith("sherpa_rim") for b in edges
          if b.startswith("sherpa_rim") and _layer(b) < _layer(a)]
    assert not up, "imports up a layer: " + "; ".join(up)
