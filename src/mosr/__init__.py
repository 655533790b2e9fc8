"""mosr: over-refusal analysis and the MOSR representation-rerouting defence for chat models."""

__version__ = "0.1.0"
