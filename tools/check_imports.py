"""List import cycles and upward imports inside the refzsl package.

Every module of ``refzsl/`` is parsed with :mod:`ast`, so imports inside functions count as much as
those at the top (a function-level import hides a cycle from the interpreter, not from this check).
Relative imports are resolved, and an old flat path (``refzsl.model``) counts as its new home.

The layers, bottom first; a module may import its own layer or a lower one, never a higher one::

    config, exceptions, _util
    audio < acoustic < semantic < evaluation < models < datasets < experiments
    classify, esc50, extract, multilabel, openset (the product and the ``python -m`` commands)
    cli

``refzsl/__init__.py`` and ``refzsl/__main__.py`` are exempt from the layer order: the package
installs the alias finder and ``__main__`` runs the CLI. They still count for cycles.

Usage::

    python tools/check_imports.py [PACKAGE_DIR]

prints ``N modules, M imports: K cycles, U upward imports`` and lists each, then any ``from module
import name`` whose name the module does not define (an import that a move broke, which a
function-level import only shows when that function runs); exits 1 if there is any.
"""

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = "refzsl"

#: Layer rank of each first-level name under the package; a module may import ranks <= its own.
LAYERS = (
    ("config", "exceptions", "_util"),
    ("audio",),
    ("acoustic",),
    ("semantic",),
    ("evaluation",),
    ("models",),
    ("datasets",),
    ("experiments",),
    ("classify", "datacheck", "esc50", "extract", "multilabel", "openset", "audioset", "soundscapes"),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
EXEMPT = {PACKAGE, f"{PACKAGE}.__main__"}


def module_name(path, root):
    """Dotted name of the module at ``path`` inside the package folder ``root``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root):
    """``{dotted name: path}`` of every ``.py`` file under the package folder ``root``."""
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _resolve_relative(module, is_package, level, target):
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _moved(name, moved):
    """``name`` with an old flat path (``refzsl.model``) replaced by the module's new home."""
    prefix = f"{PACKAGE}."
    if name.startswith(prefix):
        first, _, rest = name[len(prefix):].partition(".")
        if first in moved:
            return prefix + moved[first] + (f".{rest}" if rest else "")
    return name


def _canonical(name, modules, moved):
    """The package module an import of ``name`` loads: its longest prefix that is a module."""
    name = _moved(name, moved)
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module, path, modules, moved):
    """``[(imported module, line)]`` of every import of a package module in one file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = (_resolve_relative(module, is_package, node.level, node.module) if node.level
                      else node.module)
            # ``from pkg import name`` loads the module pkg.name when there is one, else pkg itself.
            names = [f"{source}.{alias.name}" if _moved(f"{source}.{alias.name}", moved) in modules else source
                     for alias in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(f"{PACKAGE}."):
                target = _canonical(name, modules, moved)
                if target and target != module:
                    found.append((target, node.lineno))
    return found


def defined_names(tree):
    """Names a module defines at its top level (None if it serves names dynamically or by ``*``)."""
    names = set()
    nodes = list(tree.body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(alias.name == "*" for alias in node.names):
                return None
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            nodes.extend(node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", [])
                         + [statement for handler in getattr(node, "handlers", []) for statement in handler.body])
    return None if "__getattr__" in names else names


def unresolved_names(module, path, modules, moved):
    """``[(line, source module, name)]`` of ``from source import name`` where source lacks the name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        source = _resolve_relative(module, is_package, node.level, node.module) if node.level else node.module
        source = _moved(source or "", moved)
        if source not in modules:
            continue
        names = defined_names(ast.parse(modules[source].read_text(encoding="utf-8")))
        if names is None:
            continue
        for alias in node.names:
            if alias.name not in names and _moved(f"{source}.{alias.name}", moved) not in modules:
                found.append((node.lineno, source, alias.name))
    return found


def rank(module):
    """Layer rank of a package module (``None`` for the exempt ones)."""
    if module in EXEMPT:
        return None
    return RANK[module.split(".")[1]]


def find_cycles(graph):
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def check(root, moved):
    """Parse the package at ``root``; returns (n_modules, edges, cycles, upward, unresolved).

    ``edges`` is ``[(importer, imported, line)]``; ``upward`` the edges that go up the layers;
    ``unresolved`` is ``[(importer, line, module, name)]`` for names a module does not define.
    """
    modules = find_modules(root)
    unknown = sorted({name.split(".")[1] for name in modules if name not in EXEMPT and "." in name}
                     - set(RANK))
    if unknown:
        raise SystemExit(f"check_imports: no layer for {', '.join(unknown)}; add it to LAYERS")
    edges = [(module, target, line) for module, path in modules.items()
             for target, line in imports_of(module, path, modules, moved)]
    graph = {}
    for module, target, _ in edges:
        graph.setdefault(module, set()).add(target)
    upward = [(module, target, line) for module, target, line in edges
              if rank(module) is not None and rank(target) is not None and rank(target) > rank(module)]
    unresolved = [(module, line, source, name) for module, path in modules.items()
                  for line, source, name in unresolved_names(module, path, modules, moved)]
    return len(modules), edges, find_cycles(graph), upward, unresolved


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package_dir", nargs="?", type=Path,
                        default=Path(__file__).resolve().parent.parent / PACKAGE)
    args = parser.parse_args(argv)
    root = args.package_dir.resolve()
    sys.path.insert(0, str(root.parent))
    from refzsl._util.aliases import MOVED  # the old flat paths, read from the package being checked

    n_modules, edges, cycles, upward, unresolved = check(root, MOVED)
    print(f"{n_modules} modules, {len(edges)} imports: {len(cycles)} cycles, {len(upward)} upward imports")
    for component in cycles:
        print("cycle:", " <-> ".join(component))
    for module, target, line in upward:
        print(f"upward: {module}:{line} imports {target}")
    for module, line, source, name in unresolved:
        print(f"unresolved: {module}:{line} imports {name} from {source}, which does not define it")
    return 1 if cycles or upward or unresolved else 0


if __name__ == "__main__":
    sys.exit(main())
