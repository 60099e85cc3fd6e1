"""The project's benchmarks: one module per section, each also a command, run from the project
root (`-m` puts it on sys.path, so `benchmarks` and `har` import without path setup):

    python -m benchmarks.run [--quick] [--only SECTION[,SECTION]]   # every section, one table
    python -m benchmarks.training [--quick] [--json PATH]           # one section on its own
    python -m benchmarks.gpu --quick                                # the GPU check (gpu.py)

benchmarks/README.md lists every module and its options. Importing a module runs nothing: each
has `run(quick, repeats, ...) -> dict` and `format_table(result)`, which benchmarks.run calls,
and its command line behind `if __name__ == "__main__":`. benchmarks.common holds what they share.
"""

# First, before any benchmark module loads torch: `import har` pins the CPU kernels
# (har/cpu_kernels.py), which the kernel libraries read only as torch loads. `python -m
# benchmarks.<name>` imports this package before the module, so every benchmark measures the
# kernels the pipeline trains with, and training code that checks them (har.engine's
# seed_everything) runs instead of stopping with "torch was imported before har".
import har  # noqa: F401
