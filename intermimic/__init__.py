"""InterMimic: physics-based human-object interaction data, from MoCap to a general policy."""

from intermimic.motion.clip import FIELDS, ClipMeta, HOIClip

__version__ = "0.1.0"
__all__ = ["FIELDS", "ClipMeta", "HOIClip", "__version__"]
