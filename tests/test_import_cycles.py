"""No import cycles inside tfgen, and no import running back up its layers,
counting every import statement (at module level or inside a function): the
package's modules form a layered graph (docs/design.md, "Dependencies")."""

import ast
import os

import tfgen

PACKAGE_DIR = os.path.dirname(tfgen.__file__)


def tfgen_modules():
    """{module name: path} of every module of the tfgen package."""
    modules = {}
    for folder, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[: -len(".py")]
                module = relative.replace(os.sep, ".").removesuffix(".__init__")
                modules[module] = path
    return modules


def import_graph(modules):
    """{module: the tfgen modules it imports}. ``from a import b`` counts as
    importing ``a.b`` when that is a module, else ``a``; a module importing its
    own parent package is not counted (Python imports parents first anyway)."""

    def known(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names if alias.name.startswith("tfgen"))
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("tfgen"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else known(node.module))
        graph[module] = {t for t in targets if t and t != module and not module.startswith(t + ".")}
    return graph


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_tfgen_has_no_import_cycles():
    modules = tfgen_modules()
    assert "tfgen.families.fastgan.networks" in modules and "tfgen.registry" in modules
    assert cycles(import_graph(modules)) == []


def test_families_never_import_each_other():
    graph = import_graph(tfgen_modules())
    for module, targets in graph.items():
        if module.startswith("tfgen.families."):
            family = module.split(".")[2]
            others = {t for t in targets if t.startswith("tfgen.families.") and t.split(".")[2] != family}
            assert not others, f"{module} imports another family: {sorted(others)}"


# The layers, bottom first; a module imports only from its own layer or below.
# Modules not named here are in "shared" (training/, metrics/, sampling, runs, ...).
BASE = ("tfgen._version", "tfgen.errors", "tfgen.files", "tfgen.checks", "tfgen.config", "tfgen.registry",
        "tfgen.startup", "tfgen.run_folder")  # fmt: skip
BUILDING_BLOCKS = ("tfgen.layers", "tfgen.losses", "tfgen.augment", "tfgen.data", "tfgen.features", "tfgen.morph",
                   "tfgen.style_interface", "tfgen.weights", "tfgen.perceptual", "tfgen.profiling")  # fmt: skip
APPLICATIONS = ("tfgen.commands", "tfgen.few_shot_benchmark", "tfgen.__main__", "tfgen.cli", "tfgen.command_help")
LAYERS = ("base", "building blocks", "shared", "families", "applications")


def layer_of(module):
    """The index in LAYERS of ``module``'s layer."""

    def under(prefixes):
        return any(module == p or module.startswith(p + ".") for p in prefixes)

    if module == "tfgen" or under(APPLICATIONS):
        return 4  # the package's own namespace re-exports everything
    if under(("tfgen.families",)):
        return 3
    if under(BASE):
        return 0
    if under(BUILDING_BLOCKS):
        return 1
    return 2


def upward_imports(graph):
    """``[(module, its layer, imported module, that layer)]`` for every import that runs back up."""
    return [(m, LAYERS[layer_of(m)], t, LAYERS[layer_of(t)])
            for m, targets in sorted(graph.items()) for t in sorted(targets) if layer_of(t) > layer_of(m)]  # fmt: skip


def test_the_layer_check_finds_an_upward_import():
    graph = {"tfgen.metrics.fid": {"tfgen.families.stylegan.networks", "tfgen.errors"}, "tfgen.errors": set()}
    assert upward_imports(graph) == [("tfgen.metrics.fid", "shared", "tfgen.families.stylegan.networks", "families")]
    assert upward_imports({"tfgen.commands.train": {"tfgen.families.fastgan"}}) == []
    assert [layer_of(m) for m in ("tfgen", "tfgen.config", "tfgen.data.episodes", "tfgen.runs")] == [4, 0, 1, 2]


def test_no_import_runs_back_up_the_layers():
    """Shared code never names a family (it asks the registry), the building
    blocks never reach for training or sampling, the base imports nothing above."""
    assert upward_imports(import_graph(tfgen_modules())) == []
