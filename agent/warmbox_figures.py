"""warmbox's matplotlib backend: Agg, whose show() keeps each figure as a PNG for the result.

The agent sets MPLBACKEND=module://warmbox_figures for the program, and the image installs
this module where every Python process finds it, children included. In the program's own
process the runner reads `shown` once the code ends; a child's figures stay in the child.
Language-model code writes plt.show(), not savefig(): with this, its chart comes back.
"""

import io

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase

# PNGs of the figures passed to show(), in the order shown.
shown = []


def show(*args, **kwargs):
    """Keeps every open figure as a PNG and closes it, as a window closed by the user would be."""
    import matplotlib.pyplot as plt

    for number in plt.get_fignums():
        buffer = io.BytesIO()
        plt.figure(number).savefig(buffer, format="png")
        shown.append(buffer.getvalue())
    plt.close("all")
