"""snnbench: a fair benchmark of learning rules for spiking neural networks."""

__version__ = "0.1.0"
