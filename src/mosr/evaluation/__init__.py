"""Evaluation: generation, attacks, judges and metrics for over-refusal, safety and capability."""
