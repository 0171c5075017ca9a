"""Plots of spikes, voltages, weights and learning curves (needs the ``vision`` extra: matplotlib).

The image helpers of :mod:`snnrl.analysis.images` (rasters and weights as arrays, for TensorBoard)
need only numpy.
"""

from snnrl.analysis.images import raster_image, tile_images, weight_image
from snnrl.analysis.learning import moving_average, plot_learning_curve
from snnrl.analysis.plotting import plot_raster
from snnrl.analysis.vision_plots import plot_accuracy, plot_assignments, plot_weight_grid, weight_grid

__all__ = [
    "moving_average",
    "plot_accuracy",
    "plot_assignments",
    "plot_learning_curve",
    "plot_raster",
    "plot_weight_grid",
    "raster_image",
    "tile_images",
    "weight_grid",
    "weight_image",
]
