"""Plots (matplotlib, imported inside each function: ``pip install 'lstmkit[viz]'``)."""

from .curves import plot_boxes, plot_gradient_flow, plot_learning_curve

__all__ = ["plot_learning_curve", "plot_gradient_flow", "plot_boxes"]
