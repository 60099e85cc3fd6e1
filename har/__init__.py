"""har: reproducible video activity recognition, orchestrated as a DVC pipeline."""

from har import cpu_kernels

# Before any har module imports torch: the kernel libraries read these variables as they load.
cpu_kernels.pin()

__version__ = "0.1.0"
