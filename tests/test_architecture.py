"""The structure of the package: layers, no import cycles, old import paths, argv only in the CLI.

The layering is import-linter's `layers` contract in pyproject.toml (docs/architecture.md);
grimp (import-linter's graph) finds cycles, imports inside functions included.
"""
from __future__ import annotations

import ast
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import grimp
import pytest
from importlinter import cli as importlinter_cli

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "deepaug"


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """The import cycles of the graph: its strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = set()
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.add(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_the_packages_keep_their_layers(monkeypatch):
    monkeypatch.chdir(REPO)
    # import-linter's CLI runs logging.config.dictConfig, which disables every logger that
    # exists (deepaug's included) and would silence the log assertions of later tests here
    loggers = [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    disabled, root = {lg: lg.disabled for lg in loggers}, logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert importlinter_cli.lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True) == 0
    finally:
        for lg, was in disabled.items():
            lg.disabled = was
        root.handlers[:] = handlers
        root.setLevel(level)


def test_the_layering_contract_catches_an_upward_import():
    graph = grimp.build_graph("deepaug")
    graph.add_import(importer="deepaug.ops.registry", imported="deepaug.search.study")  # a made-up upward import
    illegal = graph.find_illegal_dependencies_for_layers(layers=("deepaug.search", "deepaug.ops"))
    assert {(d.importer, d.imported) for d in illegal} == {("deepaug.ops", "deepaug.search")}


def test_no_module_imports_itself_back():
    graph = grimp.build_graph("deepaug")
    assert strongly_connected(graph) == []
    graph.add_import(importer="deepaug.policy.core", imported="deepaug.policy.baselines")  # baselines imports core
    assert {"deepaug.policy.core", "deepaug.policy.baselines"} <= set().union(*strongly_connected(graph))


def _modules_importing(name: str) -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if any(n == name or n.startswith(name + ".") for n in names):
                found.append(str(path.relative_to(REPO)))
    return found


def test_only_the_command_line_parses_arguments():
    assert [p for p in _modules_importing("argparse") if not p.startswith("deepaug/cli/")] == []


@pytest.mark.parametrize("old, new", [("k8s_augment", "deepaug.kubernetes.augment"),
                                      ("augmenter", "deepaug.policy.core"),
                                      ("pipeline", "deepaug.run")])
def test_an_old_module_path_still_works_as_an_attribute_and_names_the_new_place(old, new):
    code = (f"import warnings; warnings.simplefilter('error')\n"
            f"try:\n    from deepaug import {old}\nexcept DeprecationWarning as w:\n    print(w)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"deepaug.{old} moved to {new}" in out.stdout
    code = f"import importlib, deepaug; assert deepaug.{old} is importlib.import_module({new!r})"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def test_importing_deepaug_installs_no_import_hook():
    code = "import sys; before = list(sys.meta_path); import deepaug; assert sys.meta_path == before, sys.meta_path"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr


def test_the_names_users_import_from_the_top_and_from_the_old_modules():
    import deepaug
    from deepaug.api import augment as new_augment
    from deepaug.adapters.keras import PolicyLayer as NewLayer

    assert deepaug.augment is new_augment and deepaug.PolicyLayer is NewLayer
    assert deepaug.DeepAugment.__module__ == "deepaug.api"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old_augment = deepaug.augment_run.augment
        from deepaug.training import train_child
    assert old_augment is new_augment
    assert train_child.__module__ == "deepaug.training.train"
    assert any("deepaug.training.train_child moved to deepaug.training.train" in str(w.message) for w in caught)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        deepaug.training.no_such_name  # noqa: B018


def test_python_dash_m_deepaug_is_the_command():
    out = subprocess.run([sys.executable, "-m", "deepaug", "--help"], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage: deepaug" in out.stdout


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _trees() -> list[tuple[str, list[str], ast.Module]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        out.append((str(path.relative_to(REPO)), text.splitlines(), ast.parse(text)))
    return out


def test_modules_and_functions_stay_readable():
    """docs/architecture.md: a module a reader can hold (<= 400 lines), a function on one screen (<= 60)."""
    long_modules = [f"{name}: {len(lines)} lines" for name, lines, _ in _trees() if len(lines) > MAX_MODULE_LINES]
    long_functions = [f"{name}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
                      for name, _, tree in _trees() for node in ast.walk(tree)
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long_modules == [] and long_functions == []


def _imports_inside_functions() -> list[tuple[str, int, str, bool]]:
    """(module, line, text, says why) for each import inside a function; a run of import lines says
    why when one of them, or the comment line above the run, has a comment."""
    found = []
    for name, lines, tree in _trees():
        inner = sorted({node.lineno for func in ast.walk(tree) if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
                        for node in ast.walk(func) if isinstance(node, (ast.Import, ast.ImportFrom))})
        for number in inner:
            first = number
            while first - 1 in inner or (first > 1 and lines[first - 2].strip() == "" and first - 2 in inner):
                first -= 1
            last = number
            while last + 1 in inner:
                last += 1
            run = [lines[i - 1] for i in range(first, last + 1)]
            above = lines[first - 2].strip() if first > 1 else ""
            found.append((name, number, lines[number - 1], above.startswith("#") or any("#" in r for r in run)))
    return found


def test_an_import_inside_a_function_says_why():
    """Imports stand at the top; one inside a function defers a heavy or optional package and says so."""
    assert [f"{name}:{line}: {text.strip()}" for name, line, text, why in _imports_inside_functions() if not why] == []


def test_each_package_exports_what_its_all_names():
    import importlib
    import pkgutil

    import deepaug

    packages = [m.name for m in pkgutil.iter_modules(deepaug.__path__, "deepaug.") if m.ispkg]
    missing = {}
    for name in packages:
        package = importlib.import_module(name)
        exported = getattr(package, "__all__", None)
        if exported is not None:
            missing[name] = [n for n in exported if not hasattr(package, n)]
    assert {"deepaug.search", "deepaug.policy", "deepaug.storage", "deepaug.execution"} <= set(missing)
    assert {k: v for k, v in missing.items() if v} == {}


def test_the_readme_and_docs_import_public_names_without_a_deprecation_warning():
    """What users copy from the README and docs imports from a package, not a moved path."""
    lines = sorted({line for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
                    for line in path.read_text(encoding="utf-8").splitlines()
                    if line.startswith(("from deepaug", "import deepaug"))})
    assert any("deepaug.adapters" in line for line in lines)
    # deepaug's own deprecations only ("X moved to Y"): a library's may come and go with its version
    code = ("import warnings; warnings.filterwarnings('error', 'deepaug', DeprecationWarning)\n"
            + "\n".join(lines))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
