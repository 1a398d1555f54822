"""Visualisation: offscreen rendering of clips to videos and images."""

from __future__ import annotations

from intermimic.viz.render import (
    OffscreenRenderer,
    RenderError,
    RendererUnavailableError,
    RenderSettings,
    contact_sheet,
    gl_backend,
    render_clip,
    render_frames,
)

__all__ = [
    "OffscreenRenderer",
    "RenderError",
    "RenderSettings",
    "RendererUnavailableError",
    "contact_sheet",
    "gl_backend",
    "render_clip",
    "render_frames",
]
