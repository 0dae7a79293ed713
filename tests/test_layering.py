"""The floor plan, enforced: imports only point down the data path, no module cycle, the library imports no study.

Read from the source with ``ast`` (imports inside functions included), so nothing is imported to check it.
"""
import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Bottom to top; a package may import its own modules and any package of a lower layer, nothing else.  ssl and
# compress share a layer and must not import each other; so do jobs and the configs the pipeline binary starts from.
LAYERS = (
    ("keras_ssl.base",),
    ("keras_ssl.data",),
    ("keras_ssl.models",),
    ("keras_ssl.training",),
    ("keras_ssl.ssl", "keras_ssl.compress"),
    ("tflite_export",),
    ("keras_ssl.search",),
    ("keras_ssl.tasks",),
    ("keras_ssl.benchmark",),
    ("keras_ssl.pipeline",),
    ("keras_ssl.jobs", "keras_ssl.configs"),
    ("keras_ssl.cli",),
    ("keras_ssl",),  # the public API (keras_ssl/__init__.py) re-exports from every layer
)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
TOP_LEVEL = ("keras_ssl", "tflite_export", "studies", "experiments")


def _modules():
    """{dotted module name: path} of every module under the top-level folders."""
    found = {}
    for top in TOP_LEVEL:
        for dirpath, dirnames, files in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    found[dotted.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(module, path):
    """The project modules ``module`` imports (``from pkg import submodule`` resolves to the submodule)."""
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name.split(".")[0] in TOP_LEVEL:
                targets.add(name)
    return targets


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _layer(module):
    """The layer's package of a library module, or None for studies and experiments."""
    best = None
    for package in RANK:
        if module == package or module.startswith(package + "."):
            best = package if best is None or len(package) > len(best) else best
    return best


def test_every_library_package_has_a_layer():
    packages = {m.rpartition(".")[0] if not os.path.basename(p) == "__init__.py" else m
                for m, p in MODULES.items() if m.split(".")[0] in ("keras_ssl", "tflite_export")}
    assert {p for p in packages if _layer(p) != p} == set(), "add new packages to LAYERS"


def upward_imports(graph):
    """Every import in ``graph`` ({module: imported modules}) that breaks the layering, as readable lines."""
    upward = []
    for module, targets in sorted(graph.items()):
        layer = _layer(module)
        if layer is None:
            continue
        for target in sorted(targets):
            target_layer = _layer(target)
            if target_layer is None:
                upward.append(f"{module} imports {target}: the library never imports studies/ or experiments/")
            elif target_layer != layer and RANK[target_layer] >= RANK[layer]:
                upward.append(f"{module} ({layer}) imports {target} ({target_layer})")
    return upward


def cycles(graph):
    """Import cycles in ``graph``, each as "a -> b -> a"."""
    state, found = {}, []

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                found.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_imports_only_point_down_the_layers():
    assert upward_imports(GRAPH) == []


def test_no_import_cycle():
    assert cycles(GRAPH) == []


def test_the_checks_catch_what_they_forbid():
    """An upward import, a sideways one inside a shared layer, a study import and a cycle are each reported."""
    bad = {"keras_ssl.base.errors": {"keras_ssl.data.images"}, "tflite_export.convert": {"keras_ssl.pipeline.run"},
           "keras_ssl.ssl.pretrain": {"keras_ssl.compress.prune"}, "keras_ssl.jobs.export_job": {"studies.x"},
           "keras_ssl.data.images": {"keras_ssl.base.errors"}}
    assert len(upward_imports(bad)) == 4
    assert upward_imports({"keras_ssl.pipeline.run": {"tflite_export.convert", "keras_ssl.pipeline.stages"}}) == []
    assert cycles(bad) == ["keras_ssl.base.errors -> keras_ssl.data.images -> keras_ssl.base.errors"]


def _bazel_layers():
    """{layer package: [layer packages its py_library depends on]} read from BUILD."""
    build = open(os.path.join(ROOT, "BUILD"), encoding="utf-8").read()
    target_of = {package: package.replace(".", "_") if package != "tflite_export" else package for package in RANK}
    package_of = {target: package for package, target in target_of.items()}
    layers = {}
    for name, body in re.findall(r'py_library\(\n    name = "(\w+)",(.*?)\n\)', build, re.S):
        if name in package_of:
            layers[package_of[name]] = [package_of[d] for d in re.findall(r'":(\w+)"', body) if d in package_of]
    return layers, build


def test_bazel_has_one_library_per_layer_pointing_down_and_no_alias():
    layers, build = _bazel_layers()
    assert set(layers) == set(RANK) - {"keras_ssl"}, "keras_ssl/__init__.py (the lazy API) sits in keras_ssl_base"
    assert {(layer, dep) for layer, deps in layers.items() for dep in deps if RANK[dep] >= RANK[layer]} == set()
    assert "alias(" not in build
