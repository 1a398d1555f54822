"""Errors and warnings about object meshes and the object library.

Every error subclasses :class:`intermimic.errors.InputError` and names the file (or the
objects folder) it is about, so a batch stage can record the reject and carry on.
"""

from __future__ import annotations

from intermimic.errors import InputError


class ObjectError(InputError):
    """An object mesh or object folder is unusable."""


class MeshLoadError(ObjectError):
    """The mesh file is missing, does not decode as a triangle mesh, or is empty."""


class UnknownObjectError(ObjectError):
    """No object of that name lives under the configured objects folder."""


class SamplePointsError(ObjectError):
    """A provided ``sample_points.npy`` is missing or has the wrong shape."""


class NonWatertightMeshWarning(UserWarning):
    """The mesh is not closed, so its own volume is meaningless.

    The object still loads: its mass comes from the volume of its convex collision parts
    (what the physics engine sees) instead of the mesh volume. Captured furniture meshes
    (the OMOMO table and chair) are open surfaces, so this is the normal case for them.
    """
