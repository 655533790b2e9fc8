"""Representation analysis: where pseudo-malicious prompts sit between benign and malicious ones.

``run_analysis`` is the entry point (used by ``mosr analyze`` and ``mosr run``);
``plot_before_after`` compares two of its results. The maths lives in ``metrics`` and
``boundary``, the behaviour link in ``behaviour``, plots in ``plots``.
"""

from mosr.analysis.boundary import BEST_LAYER_CRITERION, analyse_layers, default_target_layers, select_best_layer
from mosr.analysis.plots import plot_analysis, plot_before_after
from mosr.analysis.runner import load_analysis, run_analysis

__all__ = [
    "BEST_LAYER_CRITERION",
    "analyse_layers",
    "default_target_layers",
    "load_analysis",
    "plot_analysis",
    "plot_before_after",
    "run_analysis",
    "select_best_layer",
]
