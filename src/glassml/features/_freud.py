"""freud systems from a Structure: freud wants 3-component points centred on the origin."""

from __future__ import annotations

import numpy as np

from glassml.features.structure import Structure


def freud_system(st: Structure):
    """(freud.box.Box, points [N, 3] float32-safe) for `st`, 2D as a plane at z = 0."""
    import freud  # lazily: freud is only needed for the descriptors that use it

    box = freud.box.Box.from_box(st.box.tolist())
    pts = np.zeros((st.n, 3))
    pts[:, : st.dim] = st.positions - 0.5 * st.box
    return box, box.wrap(pts)
