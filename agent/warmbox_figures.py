"""warmbox's matplotlib backend: Agg, whose show() keeps each figure as a PNG for the result.

The agent sets MPLBACKEND=module://warmbox_figures for the program, and the image installs
this module where every Python process finds it, children included. In the program's own
process the runner reads `shown` once the code ends, and draws each figure still open with
`png_of`; a child's figures stay in the child. Language-model code writes plt.show(), not
savefig(): with this, its chart comes back.
"""

import io
import os

from matplotlib import rcParams
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase

# PNGs of the figures passed to show(), in the order shown.
shown = []

_savefig = Figure.savefig


def _savefig_remembering_png(self, fname, *args, **kwargs):
    """Figure.savefig, which also keeps the PNG it wrote to a file, so that a figure the
    program saved and did not change since is not drawn a second time for the result."""
    _savefig(self, fname, *args, **kwargs)
    self._warmbox_png = None
    if not isinstance(fname, (str, os.PathLike)):
        return
    extension = os.path.splitext(os.fspath(fname))[1][1:]
    if (kwargs.get("format") or extension or rcParams["savefig.format"]).lower() != "png":
        return
    try:
        with open(fname, "rb") as f:
            self._warmbox_png = f.read()
    except OSError:
        pass


Figure.savefig = _savefig_remembering_png


def png_of(figure):
    """The figure as a PNG: the one the program saved, if the figure has not changed since."""
    saved = getattr(figure, "_warmbox_png", None)
    if saved is not None and not figure.stale:
        return saved
    buffer = io.BytesIO()
    _savefig(figure, buffer, format="png")
    return buffer.getvalue()


def show(*args, **kwargs):
    """Keeps every open figure as a PNG and closes it, as a window closed by the user would be."""
    import matplotlib.pyplot as plt

    for number in plt.get_fignums():
        shown.append(png_of(plt.figure(number)))
    plt.close("all")
