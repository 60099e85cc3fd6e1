"""No import cycle anywhere in har, imports inside functions included (read with `ast`).

A cycle hidden behind a function-level import still ties the modules together: each
stage would then depend on nearly all of har (har/code_deps.py follows such imports), and
a change anywhere would re-run the whole pipeline.
"""

import ast
from pathlib import Path

import networkx as nx

from har.code_deps import _imported_modules, _module_file

ROOT = Path(__file__).resolve().parents[1]


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for path in (ROOT / "har").rglob("*.py"):
        rel = path.relative_to(ROOT)
        module = ".".join(rel.with_suffix("").parts)  # har.models.__init__ resolves inside
        graph.add_node(rel.as_posix())
        for name in _imported_modules(ast.parse(path.read_text()), module):
            target = _module_file(ROOT, name)
            if target is not None and target != rel and target.name != "__init__.py":
                graph.add_edge(rel.as_posix(), target.as_posix())
    return graph


def test_har_has_no_import_cycle():
    cycles = sorted(nx.simple_cycles(import_graph()), key=len)
    assert not cycles, f"import cycles, shortest first: {cycles[:3]}"


def test_the_config_and_the_input_spec_stay_free_of_models_and_torch():
    graph = import_graph()
    # `har serve` on the slim runtime reads params.yaml: no torch on that path.
    for leaf in ("har/config.py", "har/input_spec.py"):
        reached = nx.descendants(graph, leaf)
        assert not any(p.startswith("har/models/") for p in reached), (leaf, reached)
        for path in {leaf} | reached:
            assert "import torch" not in (ROOT / path).read_text(), path


def test_the_walker_finds_a_cycle_hidden_in_a_function(tmp_path, monkeypatch):
    # The oracle: a lazy import closing a circle must show up.
    (tmp_path / "har").mkdir()
    (tmp_path / "har" / "a.py").write_text("from har import b\n")
    (tmp_path / "har" / "b.py").write_text("def f():\n    from har.a import x\n")
    monkeypatch.setattr("test_imports.ROOT", tmp_path)
    assert list(nx.simple_cycles(import_graph())) != []
