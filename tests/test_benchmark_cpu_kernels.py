"""benchmarks.training --kernels --quick: both kernel choices really ran, and the figures are
well formed (timings are never asserted)."""

import json
import statistics

import pytest

from commands import python, run_benchmark

pytestmark = pytest.mark.slow  # training in fresh processes, both kernel choices


def test_quick_run_compares_pinned_with_native_kernels(tmp_path):
    out = tmp_path / "kernels.json"
    run_benchmark("training", "--kernels", "--quick", "--json", out)
    result = json.loads(out.read_text())
    kernels = result["config"]["kernels"]
    assert kernels["avx2"] == "AVX2"  # pinned, whatever the CPU offers
    # Native: what torch picks by itself (AVX512 here), not the AVX2 that this process's
    # `import har` or a caller's variables would hand down to the child.
    own = python("-c", "import torch; print(torch.backends.cpu.get_cpu_capability())", check=True)
    assert kernels["native"] == own.stdout.strip()
    (fig,) = result["figures"]
    assert fig["name"].endswith("pinned to AVX2") and fig["baseline"]["name"].startswith("native")
    assert 0 < fig["min"] <= fig["median"] <= fig["max"]
    assert fig["ratio"] == pytest.approx(fig["median"] / statistics.median(fig["baseline"]["values"]))
