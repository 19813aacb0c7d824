"""The house rules, read from the source with `ast` (no root, nothing imported):

- packages named after Kubernetes' components, imports only downward:
  cli -> labs -> lab -> cluster -> the components -> api, kernel and wire -> config (the leaf);
  components import each other only through the API (never one another);
- no import cycle between modules, imports inside functions included;
- no module takes another module's `_private` names;
- every package's __init__ docstring names its component and lists its modules; every module has a docstring;
- modules stay under ~300 lines and functions under ~60.
"""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "toycluster"
COMPONENTS = {"controllers", "node", "proxy", "netpol", "dns", "ingress", "cloud"}
BELOW = {                                   # what each room may import besides itself
    "config": set(),
    "kernel": {"config"},
    "wire": {"config"},
    "api": {"config", "wire"},
    **{c: {"api", "kernel", "wire", "config"} for c in COMPONENTS},
    "cluster": COMPONENTS | {"api", "kernel", "wire", "config"},
    "lab": COMPONENTS | {"cluster", "api", "kernel", "wire", "config"},
    "labs": COMPONENTS | {"lab", "cluster", "api", "kernel", "wire", "config"},
    "cli": COMPONENTS | {"labs", "lab", "cluster", "api", "kernel", "wire", "config"},
}
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = modules()


def room(module: str) -> str:
    """toycluster.proxy.proxier -> proxy; toycluster.config -> config; toycluster -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every toycluster import of MODULE, at any depth."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "toycluster"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            if base.split(".")[0] != "toycluster":
                continue
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in MODULES:              # from toycluster.proxy import proxier
                    found.append((target, [], node.lineno))
                else:                              # from toycluster.proxy.proxier import render
                    found.append((base, [alias.name], node.lineno))
    return found


def where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}"


def test_every_module_is_in_a_known_room():
    stray = [m for m in MODULES if room(m) not in BELOW and m != "toycluster"]
    assert not stray, f"modules outside the component packages: {stray}"


def test_imports_go_only_downward():
    wrong = []
    for module in MODULES:
        mine = room(module)
        for target, _, line in imports(module):
            theirs = room(target)
            if theirs and theirs != mine and theirs not in BELOW.get(mine, set()):
                wrong.append(f"{where(module, line)}: {module} imports {target} ({mine} may import only "
                             f"{', '.join(sorted(BELOW.get(mine, ()))) or 'nothing of toycluster'})")
            if theirs == "" and target == "toycluster":
                wrong.append(f"{where(module, line)}: {module} imports the top package")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph = {m: sorted({t for t, _, _ in imports(m) if t != m and t in MODULES}) for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_names_across_modules():
    wrong = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        bound = {}
        for target, names, line in imports(module):
            wrong += [f"{where(module, line)}: {module} imports {target}.{n}" for n in names if n.startswith("_")]
        for node in ast.walk(tree):                # `from toycluster.x import y` binds y: y._private is taken too
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("toycluster"):
                for a in node.names:
                    if f"{node.module}.{a.name}" in MODULES:
                        bound[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                wrong.append(f"{where(module, node.lineno)}: {module} uses {bound[node.value.id]}.{node.attr}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", sorted(p for p in MODULES if MODULES[p].name == "__init__.py"))
def test_each_package_says_what_it_plays_and_lists_its_modules(package):
    path = MODULES[package]
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert doc, f"{path}: no docstring saying which Kubernetes component this package plays"
    if package == "toycluster":
        return
    own = [m.rpartition(".")[2] for m in MODULES if m.rpartition(".")[0] == package]
    missing = [m for m in own if f"{m}.py" not in doc and f"`{m}`" not in doc]
    assert not missing, f"{path}: the docstring does not list {missing}"
    body = [n for n in ast.parse(path.read_text()).body if not isinstance(n, ast.Expr)]
    assert not body, f"{path}: keep package __init__ files to their docstring (the fork server imports them)"


def test_every_module_has_a_docstring_and_stays_readable():
    wrong = []
    for module, path in MODULES.items():
        text = path.read_text()
        tree = ast.parse(text)
        if not ast.get_docstring(tree):
            wrong.append(f"{path}: no docstring naming the part it plays")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            wrong.append(f"{path}: {len(text.splitlines())} lines (split it: ~{MAX_MODULE_LINES} at most)")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    wrong.append(f"{where(module, node.lineno)}: {node.name} is {length} lines "
                                 f"(~{MAX_FUNCTION_LINES} at most)")
    assert not wrong, "\n".join(wrong)


def test_test_files_have_unique_basenames():
    """pytest imports test files by basename (no __init__.py in tests/): two with one name break collection."""
    tests = pathlib.Path(__file__).resolve().parents[1]
    seen: dict[str, pathlib.Path] = {}
    for path in sorted(tests.rglob("test_*.py")):
        assert path.name not in seen, f"{path} and {seen[path.name]} share a basename: rename one"
        seen[path.name] = path
