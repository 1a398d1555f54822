"""Errors for bad humanoid descriptions (skeletons, fitted bone lengths, SMPL-X model files).

All are :class:`~intermimic.errors.InputError` subclasses, so a batch stage that fits one
humanoid per subject can record the reason beside the reject and carry on.
"""

from __future__ import annotations

from intermimic.errors import InputError

# Raised by the SMPL-X model reader, which lives below the humanoid (motion); kept
# importable from here with the other humanoid errors.
from intermimic.motion.smplx import SmplxModelError as SmplxModelError


class SkeletonError(InputError):
    """A :class:`~intermimic.humanoid.skeleton_model.SkeletonModel` breaks a structural rule."""


class UnknownBodyError(SkeletonError):
    """A body name (or parent name) is not one of the skeleton's bodies."""


class MissingParentError(SkeletonError):
    """A non-root body names no parent, or a parent that does not exist."""


class CyclicSkeletonError(SkeletonError):
    """Following parents from some body never reaches the root."""


class BoneLengthError(SkeletonError):
    """A bone (parent-to-child offset) is zero, not finite, or of an absurd size."""
