"""The package's layout (README, "Architecture"): which part may import which, no import loop,
module and function sizes, and that the registry and the report side read without TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "lungseg_lib"
MAX_LINES = 400  # a module longer than this does more than one job
MAX_FUNCTION_LINES = 60  # so does a function longer than this
# what each part may import from the rest of the package (besides itself), in the order of the
# pipeline: the bench measures, the report reads run folders and benchmark files; api, book and
# cli sit on top, and nothing imports cli. The shared helpers (errors, files, project,
# environment, notebooks, setup_cell, and the package's __init__) import only one another.
SHARED = {"__init__", "errors", "files", "project", "environment", "notebooks", "setup_cell"}
BELOW_API = {"core", "data", "engine"} | SHARED
ALLOWED = {
    "core": set(),
    "data": {"__init__", "errors", "files", "project"},
    "engine": BELOW_API,
    "bench": BELOW_API,
    "report": BELOW_API | {"bench"},
    "api": BELOW_API,
    "book": BELOW_API | {"report"},
    "cli": BELOW_API | {"bench", "report", "api", "book"},
    **{name: SHARED for name in SHARED},
}


def package_imports(path: Path) -> set[str]:
    """The first-level parts of lungseg_lib that ``path`` imports (relative or absolute)."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    here = list(rel[:-1])  # the package the module is in (a package's __init__ is in itself)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                names = [a.name for a in node.names] if not node.module else []
            elif node.module and node.module.startswith("lungseg_lib"):
                target = node.module.split(".")[1:]
                names = [a.name for a in node.names] if node.module == "lungseg_lib" else []
            else:
                continue
            if target:
                found.add(target[0])
            else:  # `from .. import x`: a module of the package, or a name of its __init__
                found |= {n if (PACKAGE / n).is_dir() or (PACKAGE / f"{n}.py").is_file() else "__init__"
                          for n in names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("lungseg_lib.")}
    return found


def part_files(part: str) -> list[Path]:
    """The modules of a part: a subpackage's files, or the one module ``part.py``."""
    folder = PACKAGE / part
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{part}.py"]


def test_every_module_belongs_to_a_part():
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")}
    assert parts <= set(ALLOWED), sorted(parts - set(ALLOWED))


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_what_the_layout_allows(part):
    for path in part_files(part):
        wrong = package_imports(path) - ALLOWED[part] - {part}
        assert not wrong, f"{path.relative_to(REPO)} imports {sorted(wrong)}"


# ----------------------------------------------------------------------------- import loops

def module_name(path: Path) -> str:
    """``lungseg_lib/report/claims.py`` -> ``lungseg_lib.report.claims`` (a package: its name)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(path: Path) -> set[str]:
    """The package's modules that ``path`` imports, relative or absolute, at the top or inside a
    function. ``from X import name`` imports the module ``X.name`` when there is one, else X."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            found |= {f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {name for name in found if name in MODULES} - {me}


def import_loops() -> list[list[str]]:
    """The package's import loops: every group of two or more modules that reach one another
    through imports (strongly connected components of the module graph, Tarjan's algorithm)."""
    graph = {name: imported_modules(path) for name, path in MODULES.items()}
    index, low, stack, loops = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
            if len(group) > 1:
                loops.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return loops


def test_the_loop_finder_sees_relative_absolute_and_function_imports():
    imported = imported_modules(PACKAGE / "cli" / "__init__.py")
    assert {"lungseg_lib.errors", "lungseg_lib.cli.data_commands"} <= imported  # `from ..errors`, `from . import data_commands`
    assert "lungseg_lib.engine.runner" in imported_modules(PACKAGE / "book.py")  # inside a function


def test_no_import_loop():
    """No module imports one that imports it back, directly or through others, within a part or
    across parts (api, book and cli included). An import inside a function counts: deferring it
    only hides a loop from Python, the modules still need each other."""
    loops = import_loops()
    assert not loops, loops


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_no_function_is_longer_than_the_limit():
    """Every function and method, from its ``def`` line to its last line (decorators left out)."""
    long = {f"{p.relative_to(REPO)}:{node.lineno} {node.name}": n
            for p in PACKAGE.rglob("*.py") for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES}
    assert not long, long


def test_the_registry_and_the_report_side_import_no_tensorflow():
    """The book's figure notebooks read run folders on a laptop: no TensorFlow import."""
    code = ("import sys, importlib, pkgutil, lungseg_lib.report as r, lungseg_lib.core.models as m\n"
            "m.registry_table(); m.deviation_table()\n"
            "for info in pkgutil.iter_modules(r.__path__): importlib.import_module(f'lungseg_lib.report.{info.name}')\n"
            "print(sorted(n for n in ('tensorflow', 'keras') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, encoding="utf-8", errors="replace", check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
