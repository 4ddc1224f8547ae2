"""The package's layout (README, "Architecture"): which part may import which, module sizes, and
that the registry and the report side read without TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "lungseg_lib"
MAX_LINES = 400  # a module longer than this does more than one job
# what each part may import from the rest of the package (besides itself); the shared helpers
# (errors, files, project, environment, notebooks) are at the top.
SHARED = {"__init__", "errors", "files", "project", "environment", "notebooks"}
ALLOWED = {
    "core": set(),
    "data": {"__init__", "errors", "files", "project"},
    "engine": {"core", "data"} | SHARED,
    "report": {"core", "data", "engine"} | SHARED,
    "bench": {"core", "data", "engine", "report"} | SHARED,
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


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_what_the_layout_allows(part):
    for path in sorted((PACKAGE / part).rglob("*.py")):
        wrong = package_imports(path) - ALLOWED[part] - {part}
        assert not wrong, f"{path.relative_to(REPO)} imports {sorted(wrong)}"


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_the_registry_and_the_report_side_import_no_tensorflow():
    """The book's figure notebooks read run folders on a laptop: no TensorFlow import."""
    code = ("import sys, importlib, pkgutil, lungseg_lib.report as r, lungseg_lib.core.models as m\n"
            "m.registry_table(); m.deviation_table()\n"
            "for info in pkgutil.iter_modules(r.__path__): importlib.import_module(f'lungseg_lib.report.{info.name}')\n"
            "print(sorted(n for n in ('tensorflow', 'keras') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, encoding="utf-8", errors="replace", check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
