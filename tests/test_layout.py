"""The import rules that keep the pipeline readable from the tree (docs/ARCHITECTURE.md).

Every import in every module is read from its syntax tree (function-level ones too), so a rule cannot be
dodged by importing inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("assistant", "ingest", "evals", "prompts")

# Layer -> the project modules it may import (besides itself). Lower layers never import higher ones.
ALLOWED = {
    "assistant.core": set(),
    "assistant.index": {"assistant.core"},
    "assistant.answer": {"assistant.core", "assistant.index"},
    "ingest": {"assistant.core", "assistant.index"},
    "assistant.engine": {"assistant.core", "assistant.index", "assistant.answer", "ingest"},
    "evals": {"assistant.core", "assistant.answer", "assistant.engine"},
    "assistant.surfaces": {"assistant.core", "assistant.answer", "assistant.engine", "evals"},
    "assistant": {"assistant.core", "assistant.surfaces"},  # the package root and __main__
    "prompts": set(),
}
# Only the CLI reaches the harness, and only through its one entry point.
EVALS_ENTRY = {"assistant.surfaces.cli": {"evals"}}
# The user-set builder derives its gold sets from the raw feeds and word statistics, as ingest reads them;
# the harness itself never does.
BUILDERS = {"evals.user_set": {"ingest", "assistant.index"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    return max((layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")), key=len)


def project_imports(path: Path) -> set[str]:
    """Project modules imported anywhere in the file (absolute imports; the project uses no relative ones)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
        found |= {n for n in names if n.split(".")[0] in (*PACKAGES, "tests", "conftest")}
    return found


SOURCES = sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_each_module_imports_only_its_own_and_lower_layers(path):
    module = module_name(path)
    layer = layer_of(module)
    allowed = ALLOWED[layer] | {layer} | BUILDERS.get(module, set())
    bad = []
    for imported in sorted(project_imports(path)):
        target = layer_of(imported) if imported.split(".")[0] in PACKAGES else imported
        if target == "evals" and layer == "assistant.surfaces":
            if imported != "evals" or module not in EVALS_ENTRY:
                bad.append(f"{imported} (only the CLI may import evals, and only `evals` itself)")
        elif target not in allowed:
            bad.append(imported)
    assert not bad, f"{module} ({layer}) imports {', '.join(bad)}"


def test_the_rules_catch_a_violation(tmp_path):
    """The checker itself: a core module importing a surface is reported."""
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from assistant.surfaces.cli import app\n    import tests.conftest\n")
    assert project_imports(sneaky) == {"assistant.surfaces.cli", "tests.conftest"}
    assert layer_of("assistant.surfaces.cli") not in ALLOWED["assistant.core"]
    assert layer_of("assistant.core.settings") == "assistant.core"


def test_every_source_file_is_covered():
    assert len(SOURCES) > 40
    assert {layer_of(module_name(p)) for p in SOURCES} == set(ALLOWED)
