"""Plots of spikes, voltages and weights (needs the ``vision`` extra: matplotlib)."""

from snnrl.analysis.plotting import plot_raster

__all__ = ["plot_raster"]
