"""Learning aids: the autograd graph drawn, and the flow of activations and gradients.

``draw_graph(output, path=None, params=None)`` draws the graph behind a tensor
with Graphviz (the ``viz`` extra and Graphviz's ``dot``); ``FlowRecorder`` and
``plot_flow`` record and plot, per layer, what forward and backward pass through.
"""

from minidl.viz.flow import FlowRecorder, plot_flow, weighted_layers
from minidl.viz.graph import build_graph, draw_graph, saved_bytes

__all__ = ["draw_graph", "build_graph", "saved_bytes", "FlowRecorder", "plot_flow", "weighted_layers"]
