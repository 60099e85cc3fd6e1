"""benchmarks/hostile_memory.py --quick: peak RSS of extract and predict per input, hostile
beside normal (figures printed for the README, never asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "hostile_memory.py"


def test_quick_run_reports_every_input_and_the_refusals(tmp_path):
    spec = importlib.util.spec_from_file_location("benchmarks_hostile_memory", BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    out = tmp_path / "hostile.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["benchmark"] == "hostile_memory" and result["quick"] is True
    rows = {r["input"]: r for r in result["rows"]}
    assert list(rows) == ["normal", "thin", "huge", "worst_ok"]
    for name, row in rows.items():
        assert row["extract"]["peak_rss_mb"] > 20 and row["predict"]["peak_rss_mb"] > 20
        assert not row["predict"]["traceback"], row
        refused = name in ("thin", "huge")
        assert row["extract"]["status"] == ("failed" if refused else "ok"), row
        assert row["predict"]["exit"] == (2 if refused else 0), row
    assert "aspect ratio" in rows["thin"]["extract"]["error"]
    assert "pixel budget" in rows["huge"]["predict"]["message"]
    assert "| worst_ok |" in bench.format_table(result)
