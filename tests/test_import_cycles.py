"""No import cycles inside tfgen, counting every import statement (at module
level or inside a function): the package's modules form a layered graph."""

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
