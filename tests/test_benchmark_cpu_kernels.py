"""benchmarks.cpu_kernels --quick: both kernel choices really ran, and the figures are
well formed (timings are never asserted)."""

import json
import statistics

import pytest

from benchmark_cli import run_benchmark


def test_quick_run_compares_pinned_with_native_kernels(tmp_path):
    out = tmp_path / "cpu_kernels.json"
    run_benchmark("cpu_kernels", "--quick", "--json", out)
    result = json.loads(out.read_text())
    kernels = result["config"]["kernels"]
    assert kernels["avx2"] == "AVX2"  # pinned, whatever the CPU offers
    assert kernels["native"] in ("AVX2", "AVX512", "DEFAULT", "AVX512_BF16", "AMX")
    (fig,) = result["figures"]
    assert fig["name"].endswith("pinned to AVX2") and fig["baseline"]["name"].startswith("native")
    assert 0 < fig["min"] <= fig["median"] <= fig["max"]
    assert fig["ratio"] == pytest.approx(fig["median"] / statistics.median(fig["baseline"]["values"]))
