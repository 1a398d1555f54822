"""Offscreen rendering of clips (humanoid and object) to a video or a PNG.

MuJoCo draws the scene with OpenGL. Without a display the context comes from OSMesa
(software, CPU: Debian ``libosmesa6`` + PyPI ``PyOpenGL``) or EGL (GPU driver or Mesa).
The backend is ``$MUJOCO_GL`` when it names one of them, else EGL on a machine with an
NVIDIA device and OSMesa elsewhere. Note that PyOpenGL binds one platform per process,
so choose the backend before the first render.

:func:`render_clip` is the entry point: a video (``.mp4``, ``.gif``, ...) of every
``stride``-th frame, a single ``.png`` frame, or a ``.png`` contact sheet; optionally
side by side with another version of the same clip (``compare``, e.g. raw vs refined),
both drawn from the same camera so the difference shows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import mujoco
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from intermimic.errors import InterMimicError
from intermimic.humanoid.builder import build_spec
from intermimic.motion.clip import HOIClip
from intermimic.objects.library import ObjectLibrary
from intermimic.sim.replay import humanoid_qpos
from intermimic.sim.scene import Scene, SceneSettings, build_scene

GL_ENV_VAR = "MUJOCO_GL"
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

# What each backend needs from the system, for the error message when it fails.
_BACKEND_NEEDS = {
    "osmesa": "the OSMesa library libOSMesa (Debian: apt-get install libosmesa6) and PyOpenGL",
    "egl": "an EGL library libEGL with a GPU driver or Mesa (Debian: apt-get install "
    "libegl1 libegl-mesa0) and PyOpenGL",
    "glfw": "a display and the glfw package",
}

Image = NDArray[np.uint8]  # [H, W, 3] RGB


class RendererUnavailableError(InterMimicError):
    """No OpenGL context could be created for offscreen rendering."""


class RenderError(InterMimicError):
    """The request cannot be rendered (bad frame index, unknown output type, ...)."""


class RenderSettings(BaseModel):
    """Image size, camera and sampling of a render."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(default=640, gt=0, le=1920, description="width of one panel (pixels)")
    height: int = Field(default=480, gt=0, le=1080, description="height of one panel (pixels)")
    stride: int = Field(default=1, ge=1, description="render every n-th frame of a video")
    distance: float = Field(
        default=3.5, gt=0, description="camera distance from the look-at point (m)"
    )
    azimuth: float = Field(default=135.0, description="camera azimuth (deg)")
    elevation: float = Field(default=-20.0, description="camera elevation (deg)")
    smooth_frames: int = Field(
        default=31, ge=1, description="window of the camera's look-at smoothing"
    )
    sheet_frames: int = Field(default=8, ge=1, description="frames in a PNG contact sheet")
    sheet_columns: int = Field(default=4, ge=1)
    labels: bool = True
    # Humanoid colour per panel (RGBA); None keeps the model's own colours. Distinct
    # colours tell the clip and its comparison apart at a glance.
    humanoid_rgba: tuple[float, float, float, float] | None = (0.85, 0.62, 0.42, 1.0)
    compare_rgba: tuple[float, float, float, float] | None = (0.40, 0.62, 0.85, 1.0)
    # Shadows, floor reflections and the skybox cost 2-3x the time of the rest of a frame
    # in software rendering (OSMesa); off by default, on for pretty pictures.
    shadows: bool = False
    reflection: bool = False
    skybox: bool = False


# ---- OpenGL context -------------------------------------------------------------------


def gl_backend() -> str:
    """The backend to use: ``$MUJOCO_GL`` if it names egl/osmesa/glfw, else a guess."""
    env = os.environ.get(GL_ENV_VAR, "").strip().lower()
    if env in _BACKEND_NEEDS:
        return env
    return "egl" if Path("/dev/nvidia0").exists() else "osmesa"


def _gl_context(backend: str, width: int, height: int) -> Any:
    try:  # the GL module to import depends on the backend chosen at run time
        if backend == "osmesa":
            from mujoco.osmesa import GLContext
        elif backend == "egl":
            from mujoco.egl import GLContext  # type: ignore[no-redef]
        elif backend == "glfw":
            from mujoco.glfw import GLContext  # type: ignore[no-redef]
        else:
            raise RendererUnavailableError(
                f"unknown OpenGL backend {backend!r}; set {GL_ENV_VAR} to egl or osmesa"
            )
        ctx = GLContext(width, height)
        ctx.make_current()
        return ctx
    except RendererUnavailableError:
        raise
    except Exception as exc:  # ImportError, OSError, GL errors: all mean "cannot render here"
        other = "egl" if backend == "osmesa" else "osmesa"
        raise RendererUnavailableError(
            f"cannot create an offscreen OpenGL context with {GL_ENV_VAR}={backend} "
            f"({type(exc).__name__}: {exc}). It needs {_BACKEND_NEEDS.get(backend, backend)}; "
            f"or set {GL_ENV_VAR}={other} before starting the program"
        ) from exc


class OffscreenRenderer:
    """Renders an ``MjModel``'s state to RGB arrays. Use as a context manager.

    The model's offscreen buffer (``visual.global_.offwidth/offheight``) must be at least
    ``width x height``; scenes from :func:`build_scene` allow up to 1920 x 1080.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        width: int,
        height: int,
        backend: str | None = None,
        settings: RenderSettings | None = None,
    ) -> None:
        if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            raise RenderError(
                f"{width}x{height} exceeds the model's offscreen buffer "
                f"{model.vis.global_.offwidth}x{model.vis.global_.offheight}"
            )
        self.model = model
        self.width, self.height = width, height
        self.backend = backend or gl_backend()
        self._ctx = _gl_context(self.backend, width, height)
        self._con: mujoco.MjrContext | None = mujoco.MjrContext(
            model, mujoco.mjtFontScale.mjFONTSCALE_150
        )
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._con)
        self._scn = mujoco.MjvScene(model, maxgeom=10000)
        s = settings or RenderSettings()
        self._scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = s.shadows
        self._scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = s.reflection
        self._scn.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = s.skybox
        self._opt = mujoco.MjvOption()
        self._pert = mujoco.MjvPerturb()
        self._rect = mujoco.MjrRect(0, 0, width, height)

    def render(
        self, data: mujoco.MjData, camera: mujoco.MjvCamera, text: Sequence[str] = ()
    ) -> Image:
        """``[H, W, 3]`` uint8 image of ``data`` (kinematics must be current) seen from ``camera``.

        ``text`` lines are drawn in the top-left corner.
        """
        if self._con is None:
            raise RenderError("renderer is closed")
        self._ctx.make_current()
        mujoco.mjv_updateScene(
            self.model, data, self._opt, self._pert, camera, mujoco.mjtCatBit.mjCAT_ALL, self._scn
        )
        mujoco.mjr_render(self._rect, self._scn, self._con)
        if text:
            mujoco.mjr_overlay(
                mujoco.mjtFont.mjFONT_NORMAL,
                mujoco.mjtGridPos.mjGRID_TOPLEFT,
                self._rect,
                "\n".join(text),
                "",
                self._con,
            )
        rgb = np.empty((self.height, self.width, 3), np.uint8)
        mujoco.mjr_readPixels(rgb, None, self._rect, self._con)
        return np.ascontiguousarray(np.flipud(rgb))  # OpenGL rows run bottom-up

    def close(self) -> None:
        """Free the GL resources now (not at interpreter exit, when OSMesa may be gone)."""
        if self._con is not None:
            self._ctx.make_current()
            self._con.free()
            self._con = None
            self._ctx.free()

    def __enter__(self) -> OffscreenRenderer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---- camera ---------------------------------------------------------------------------


def look_at_track(clip: HOIClip, smooth_frames: int = 31) -> NDArray[np.float64]:
    """``[T, 3]`` camera look-at points: midway between pelvis and object, smoothed in time
    (a moving average over ``smooth_frames``) so the camera glides instead of shaking."""
    mid = 0.5 * (clip.root_pos.astype(np.float64) + clip.obj_pos.astype(np.float64))
    mid[:, 2] = 0.5 * (float(np.median(clip.root_pos[:, 2])) + 0.3)  # steady height
    k = min(smooth_frames, clip.n_frames)
    if k <= 1:
        return mid
    pad = np.concatenate(
        [np.repeat(mid[:1], k // 2, 0), mid, np.repeat(mid[-1:], k - 1 - k // 2, 0)]
    )
    kernel = np.ones(k) / k
    return np.stack([np.convolve(pad[:, i], kernel, mode="valid") for i in range(3)], axis=1)


def _camera(lookat: NDArray[np.float64], s: RenderSettings) -> mujoco.MjvCamera:
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.lookat[:] = lookat
    cam.distance = s.distance
    cam.azimuth = s.azimuth
    cam.elevation = s.elevation
    return cam


# ---- scenes and frames ----------------------------------------------------------------


def default_humanoid() -> mujoco.MjSpec:
    """The project's SMPL-X humanoid ``MjSpec`` from :mod:`intermimic.humanoid`."""
    return build_spec()


class _Panel:
    """One clip in its scene, ready to be drawn frame by frame."""

    def __init__(
        self,
        clip: HOIClip,
        scene: Scene,
        label: str,
        rgba: tuple[float, float, float, float] | None = None,
    ) -> None:
        self.clip, self.scene, self.label, self.rgba = clip, scene, label, rgba
        self.qpos = humanoid_qpos(clip)
        self.data = scene.make_data()

    def pose(self, t: int) -> mujoco.MjData:
        t = min(t, self.clip.n_frames - 1)  # a shorter compare clip holds its last frame
        self.scene.set_state(self.data, self.qpos[t], self.clip.obj_pos[t], self.clip.obj_quat[t])
        mujoco.mj_kinematics(self.scene.model, self.data)
        if self.rgba is not None:
            # Panels may share one model (same object): set the colour before each draw.
            self.scene.model.geom_rgba[self.scene.humanoid_geom_ids] = self.rgba
        return self.data


def _frames_to_draw(n_frames: int, out: Path, frame: int | None, s: RenderSettings) -> list[int]:
    suffix = out.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        if frame is not None:
            if not -n_frames <= frame < n_frames:
                raise RenderError(f"frame {frame} is outside the clip (0..{n_frames - 1})")
            return [frame % n_frames]
        k = min(s.sheet_frames, n_frames)
        return np.linspace(0, n_frames - 1, k).round().astype(int).tolist()
    if suffix in VIDEO_SUFFIXES:
        return list(range(0, n_frames, s.stride))
    raise RenderError(
        f"{out}: unknown output type {suffix!r}; use one of "
        + ", ".join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)
    )


def render_frames(
    panels: Sequence[tuple[HOIClip, Scene, str]],
    frames: Iterable[int],
    settings: RenderSettings | None = None,
    backend: str | None = None,
) -> Iterable[Image]:
    """Yield one image per frame index: the panels side by side, ``[H, W * len(panels), 3]``.

    Every panel uses the camera track of the first clip, so the same spot of the world
    is at the same pixel in each panel.
    """
    s = settings or RenderSettings()
    colours = [s.humanoid_rgba, s.compare_rgba]
    ps = [_Panel(c, sc, label, colours[min(i, 1)]) for i, (c, sc, label) in enumerate(panels)]
    track = look_at_track(ps[0].clip, s.smooth_frames)
    renderers: dict[int, OffscreenRenderer] = {}
    try:
        for p in ps:
            if id(p.scene.model) not in renderers:
                renderers[id(p.scene.model)] = OffscreenRenderer(
                    p.scene.model, s.width, s.height, backend, s
                )
        for t in frames:
            cam = _camera(track[min(t, len(track) - 1)], s)
            tiles = []
            for p in ps:
                text = [p.label, f"frame {t}"] if s.labels else []
                tiles.append(renderers[id(p.scene.model)].render(p.pose(t), cam, text))
            yield np.concatenate(tiles, axis=1)
    finally:
        for r in renderers.values():
            r.close()


def contact_sheet(images: Sequence[Image], columns: int) -> Image:
    """Tile equally sized ``[H, W, 3]`` images row by row; empty cells are white."""
    h, w, _ = images[0].shape
    rows = -(-len(images) // columns)
    cols = min(columns, len(images))
    sheet = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    return sheet


# ---- writing --------------------------------------------------------------------------


def _imageio() -> Any:
    try:
        import imageio.v2 as iio
    except ImportError as exc:
        raise RenderError("writing images and videos needs the 'imageio' package") from exc
    return iio


def _video_writer(path: Path, fps: float) -> Any:
    iio = _imageio()
    if path.suffix.lower() == ".gif":
        return iio.get_writer(path, mode="I", duration=1000.0 / fps, loop=0)
    try:
        import imageio_ffmpeg  # noqa: F401  (ships its own ffmpeg binary)
    except ImportError as exc:
        raise RenderError(
            f"writing {path.suffix} video needs the 'imageio-ffmpeg' package"
        ) from exc
    # yuv420p plays everywhere; quality 7 of 10 keeps a 10 s clip around a megabyte.
    return iio.get_writer(
        path, fps=fps, codec="libx264", quality=7, pixelformat="yuv420p", macro_block_size=2
    )


def _atomic_target(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    # Beside the target (same file system, so the rename is atomic), same suffix (the
    # writers pick the format from it), default permissions (unlike mkstemp's 0600).
    return out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")


def render_clip(
    clip: HOIClip,
    out: str | Path,
    *,
    compare: HOIClip | None = None,
    labels: tuple[str, str] = ("clip", "compare"),
    humanoid: mujoco.MjSpec | None = None,
    objects: ObjectLibrary | None = None,
    frame: int | None = None,
    settings: RenderSettings | None = None,
    backend: str | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> Path:
    """Render ``clip`` (and ``compare`` beside it) to ``out``; returns ``out``.

    ``out``'s suffix picks the result: a video (.mp4 .mkv .webm .mov .avi .gif) of every
    ``settings.stride``-th frame at ``fps / stride``; a .png/.jpg of frame ``frame``, or a
    contact sheet of ``settings.sheet_frames`` evenly spaced frames when ``frame`` is None.
    ``humanoid`` defaults to the project's builder, ``objects`` to the default object
    library (the clip's ``object_name`` is looked up there). ``on_frame(done, total)`` is
    called after each rendered frame (progress bars). The file appears atomically.
    """
    s = settings or RenderSettings()
    out = Path(out)
    frames = _frames_to_draw(clip.n_frames, out, frame, s)
    human = humanoid if humanoid is not None else default_humanoid()
    lib = objects if objects is not None else ObjectLibrary()
    scene_settings = SceneSettings(
        offscreen_width=max(s.width, 640), offscreen_height=max(s.height, 480)
    )
    scenes: dict[str, Scene] = {}

    def scene_for(c: HOIClip) -> Scene:
        name = c.meta.object_name
        if name not in scenes:
            scenes[name] = build_scene(human, lib.get(name), scene_settings)
        return scenes[name]

    panels = [(clip, scene_for(clip), labels[0])]
    if compare is not None:
        panels.append((compare, scene_for(compare), labels[1]))

    images = render_frames(panels, frames, s, backend)
    tmp = _atomic_target(out)
    try:
        if out.suffix.lower() in VIDEO_SUFFIXES:
            writer = _video_writer(tmp, clip.meta.fps / s.stride)
            try:
                for i, img in enumerate(images):
                    writer.append_data(img)
                    if on_frame is not None:
                        on_frame(i + 1, len(frames))
            finally:
                writer.close()
        else:
            collected = []
            for i, img in enumerate(images):
                collected.append(img)
                if on_frame is not None:
                    on_frame(i + 1, len(frames))
            result = (
                collected[0] if len(collected) == 1 else contact_sheet(collected, s.sheet_columns)
            )
            _imageio().imwrite(tmp, result)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
