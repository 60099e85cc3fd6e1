"""har: reproducible video activity recognition, orchestrated as a DVC pipeline."""

__version__ = "0.1.0"
