"""The painting page: a small HTTP server around one :class:`~paintscape.pipeline.Painter`.

    server = PaintServer(painter, host="127.0.0.1", port=7860)   # binds now (port 0: any free port)
    server.serve_forever()                                       # or start() for a background thread

Standard library only (``http.server``). The server

* serves a fixed whitelist of files from ``static/`` (no path is ever built from the request, so
  ``/../x`` and ``/static/../../x`` are plain 404s);
* answers ``GET /api/info`` (model size, classes, style needs, device, a diffusion model's steps),
  ``GET /api/progress`` (a diffusion render's step while it samples),
  ``POST /api/render`` (label map PNG of class ids [+ style photo, seed, steps, quality] -> PNG photo),
  ``POST /api/decode-label`` (any label map the dataset readers accept -> class ids at the model size) and
  ``POST /api/resample`` (label map, region mask and the photo shown -> the photo with new noise inside
  the region, for models with per-pixel noise such as OASIS);
* caps request bodies at :data:`MAX_UPLOAD_BYTES` (413) and uploaded images at ``max_pixels``
  (default :data:`PAINT_MAX_PIXELS`, or ``PAINTSCAPE_MAX_PIXELS``; checked on the file's header,
  before any pixel is decoded), and answers bad input with a 400 whose JSON ``error`` names the
  problem, so the page can show it;
* serves connections from a fixed pool of :data:`WORKERS` threads (further connections wait in a
  listen backlog of :data:`LISTEN_BACKLOG`, not in new threads), decodes one upload at a time and
  renders one request at a time (one model, one lock), so memory stays bounded however many
  requests arrive at once;
* keeps the last label map it rendered in :attr:`PaintServer.last_label` (tests read it);
* with a ``preview`` painter (a distilled student of the model, ``paintscape distill``), renders
  requests with ``quality=preview`` (the page's live renders during painting) with it, the others
  with the full model; each answer says which rendered it and how long it took.

Requests from other web sites are refused (``Origin`` must match ``Host``; ``Origin: null``, sent by
sandboxed frames and ``file:`` pages, is refused too), and when bound to a loopback address only
loopback host names are answered (no DNS rebinding onto the local model).
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import json
import logging
import queue
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from paintscape.class_table import LANDSCAPE29, ClassTable
from paintscape.data.io import DataError, open_image, pixel_limit, read_label
from paintscape.data.transforms import resize_image, resize_label
from paintscape.inference.painter import Painter, StyleRefused, StyleRequired
from paintscape.labels import LabelError

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
#: Larger bodies are not read at all (the connection is closed after the 413).
_MAX_DRAIN_BYTES = 64 * 1024 * 1024
#: Largest label map / style photo decoded, in pixels: 4096x4096, four times the track's largest
#: sources (1024x768) per side; the page works at the model's size anyway. A decode then stays near
#: 0.1 GB whatever the file claims. ``PAINTSCAPE_MAX_PIXELS`` (or ``PaintServer(max_pixels=...)``) changes it.
PAINT_MAX_PIXELS = 4096 * 4096
#: Threads that serve connections; more connections wait in the listen backlog.
WORKERS = 8
#: Connections the kernel holds for the workers (Python's default of 5 resets bursts of requests).
LISTEN_BACKLOG = 128
#: Seconds a connection may stay silent before its worker gives up on it.
SOCKET_TIMEOUT = 30.0
MAX_SEED = 2**31 - 1
#: Most sampling steps a request may ask a diffusion model for.
MAX_STEPS = 1000

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: URL path -> (file in STATIC_DIR, content type). Nothing outside this table is ever served.
STATIC_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
    "/static/resample.js": ("resample.js", "text/javascript; charset=utf-8"),
}

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
_CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"


class RequestError(Exception):
    """A bad request: ``status`` and a message for the person at the page."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def decode_label_bytes(data: bytes, source: str = "label map", max_pixels: int = PAINT_MAX_PIXELS, table: ClassTable = LANDSCAPE29) -> np.ndarray:
    """PNG bytes -> class ids ``(H, W)`` uint8 of the model's class ``table``, with
    :func:`paintscape.data.io.read_label`'s rules.

    8-bit and 16-bit grayscale, palette-indexed and RGB PNGs coloured with the table's palette are
    accepted; ids outside the table (other than 255, ignore) and images over ``max_pixels`` raise
    :class:`RequestError`.
    """
    if not data:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{source}: the file is empty")
    if not data.startswith(_PNG_MAGIC):
        raise RequestError(
            HTTPStatus.BAD_REQUEST,
            f"{source}: not a PNG file (label maps must be PNGs: 8/16-bit grayscale class ids 0..{table.num_classes - 1}, or palette colours)",
        )
    try:
        return read_label(data, name=source, max_pixels=max_pixels, table=table)
    except (DataError, LabelError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, str(exc)) from None


def decode_photo_bytes(data: bytes, source: str = "style photo", max_pixels: int = PAINT_MAX_PIXELS) -> np.ndarray:
    """JPEG/PNG/WebP bytes -> ``(H, W, 3)`` uint8 RGB; images over ``max_pixels`` are refused undecoded."""
    if not data:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{source}: the file is empty")
    try:
        with open_image(data, name=source, max_pixels=max_pixels) as image:
            if image.format not in ("JPEG", "PNG", "WEBP"):
                raise RequestError(HTTPStatus.BAD_REQUEST, f"{source}: a {image.format} image; upload a JPEG or PNG photo")
            return np.asarray(image.convert("RGB"))
    except DataError as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{exc} (upload a JPEG or PNG photo)") from None


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # speed over size: this goes to localhost
    return buffer.getvalue()


def parse_seed(value: Any) -> int:
    if value is None or value == "":
        return 0
    try:
        seed = int(str(value).strip())
    except ValueError:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"seed must be a whole number, got {str(value)[:40]!r}") from None
    if not 0 <= seed <= MAX_SEED:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"seed must lie in 0..{MAX_SEED}, got {seed}")
    return seed


def _b64decode(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{field}: expected a base64 string")
    if value.startswith("data:"):  # a data URL from the browser
        value = value.partition(",")[2]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{field}: not valid base64") from None


def parse_form(content_type: str, body: bytes) -> dict[str, bytes]:
    """``multipart/form-data`` -> ``{field: bytes}`` (files and plain fields alike)."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise RequestError(HTTPStatus.BAD_REQUEST, "malformed multipart/form-data body")
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = part.get_payload(decode=True) or b""
    return fields


class _PooledHTTPServer(HTTPServer):
    """An HTTP server whose connections are served by a fixed pool of threads.

    The accepting loop hands each connection to the pool through a queue as long as the pool; when
    every worker is busy and the queue is full it waits, and new connections wait in the kernel's
    listen backlog (``request_queue_size``) instead of costing a thread and its memory each.
    """

    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        # Set before binding: a failed bind (port in use) calls server_close, which reads them.
        self._connections: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue(maxsize=workers)
        self._closing = threading.Event()
        self._workers: list[threading.Thread] = []
        super().__init__(address, handler)
        self._workers = [
            threading.Thread(target=self._serve_connections, name=f"paintscape-web-{i}", daemon=True) for i in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        while not self._closing.is_set():
            try:
                self._connections.put((request, client_address), timeout=0.2)
                return
            except queue.Full:
                continue
        self.shutdown_request(request)

    def _serve_connections(self) -> None:
        while True:
            item = self._connections.get()
            if item is None:
                return
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001 (a broken connection must not end the worker)
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def shutdown(self) -> None:
        self._closing.set()  # first, so an accepting loop waiting for a free worker lets go
        super().shutdown()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()
        for _ in self._workers:
            try:
                self._connections.put(None, timeout=1.0)
            except queue.Full:  # a worker stuck on a slow client; it is a daemon thread
                break
        for worker in self._workers:
            worker.join(timeout=1.0)


class PaintServer:
    """The painting page for one painter, bound to ``host:port`` on construction.

    ``max_pixels`` bounds every uploaded image (default: ``PAINTSCAPE_MAX_PIXELS`` when set, else
    :data:`PAINT_MAX_PIXELS`); ``workers`` is the number of threads serving connections.
    """

    def __init__(
        self,
        painter: Painter,
        host: str = "127.0.0.1",
        port: int = 7860,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_pixels: int | None = None,
        workers: int = WORKERS,
        live_steps: int | None = None,
        preview: Painter | None = None,
    ) -> None:
        self.painter = painter
        if live_steps is not None and not painter.iterative:
            raise ValueError(f"--live-steps: the {painter.spec.family} model renders in one pass, not in steps")
        self.sampler = DiffusionProgress(painter, live_steps) if painter.iterative else None
        self.preview = preview
        if preview is not None and tuple(preview.size) != tuple(painter.size):
            raise ValueError(f"the preview model renders {preview.size[1]}x{preview.size[0]}, the model {painter.size[1]}x{painter.size[0]}; they must match")
        self.max_upload_bytes = max_upload_bytes
        self.max_pixels = max_pixels if max_pixels is not None else pixel_limit(PAINT_MAX_PIXELS)
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, got {self.max_pixels}")
        self.render_lock = threading.Lock()
        # Uploads are decoded one at a time, always on the same thread: a decode can take a few
        # hundred MB, which concurrent workers would multiply (three 8192^2 maps at once took the
        # old server to 2.5 GB), and one thread reuses one malloc arena instead of growing several.
        self._decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paintscape-decode")
        self.last_label: np.ndarray | None = None  # (H, W) uint8 at the model size: the last label map rendered
        self.last_seed: int | None = None
        self.last_quality: str | None = None  # "preview" or "full": which model rendered last
        self.renders = 0
        self._thread: threading.Thread | None = None
        handler = type("Handler", (_Handler,), {"app": self})
        try:
            self.httpd = _PooledHTTPServer((host, port), handler, workers)
        except OSError as exc:
            raise OSError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another with --port / --host"
            ) from None
        self.host = host
        self.loopback_only = _is_loopback(host)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> PaintServer:
        """Serve from a daemon thread (tests, scripts); returns self."""
        self._thread = threading.Thread(target=self.serve_forever, name="paintscape-web", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()
        self._decoder.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> PaintServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API ---------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        painter = self.painter
        height, width = painter.size
        return {
            "size": [height, width],
            "height": height,
            "width": width,
            # the model's own class table (its generator file's names and colours)
            "classes": [{"id": i, "name": name, "color": list(color)} for i, (name, color) in enumerate(zip(painter.spec.class_names, painter.spec.palette))],
            "uses_style": painter.uses_style,  # the model needs a style photo for every render
            "has_encoder": painter.has_encoder,  # a style photo is optional and steers the look
            "accepts_style": painter.uses_style or painter.has_encoder,
            "z_dim": painter.z_dim,
            "can_resample": painter.can_resample_regions,  # POST /api/resample: new noise inside a region
            "device": str(painter.device),
            "model": painter.spec.family,
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
            # a diffusion model: steps of a full and of a live render (the page polls /api/progress)
            "sampler": self.sampler.info() if self.sampler else None,
            "preview": None if self.preview is None else {"model": self.preview.spec.family, "parameters": _parameters(self.preview)},
            "parameters": _parameters(painter),
        }

    def decode_label(self, data: bytes, source: str) -> dict[str, Any]:
        """A label map file -> its class ids at the model size (nearest-neighbour if resized)."""
        original, label = self._decoder.submit(self._decode_label, data, source).result()
        return {
            "height": int(label.shape[0]),
            "width": int(label.shape[1]),
            "source_size": original,
            "resized": original != list(label.shape),
            "ids": base64.b64encode(np.ascontiguousarray(label, dtype=np.uint8).tobytes()).decode("ascii"),
            "present": sorted(int(v) for v in np.unique(label)),
        }

    # On the decoding thread; results come at the model's size, so a request waiting to render holds little.
    def _decode_label(self, data: bytes, source: str) -> tuple[list[int], np.ndarray]:
        label = decode_label_bytes(data, source, self.max_pixels, self.painter.table)
        return list(label.shape), resize_label(label, self.painter.size)

    def _decode_photo(self, data: bytes, source: str) -> np.ndarray:
        return resize_image(decode_photo_bytes(data, source, self.max_pixels), self.painter.size)

    def render(
        self, label_png: bytes, style: bytes | None, seed: int, steps: int | None = None, quality: str = "full"
    ) -> tuple[bytes, float, str]:
        """Label map PNG (+ style photo bytes) -> (photo PNG bytes, seconds spent rendering, quality).

        ``steps``: a diffusion model's sampling steps for this render (default: the painter's).
        ``quality="preview"`` renders with the preview model when there is one; the quality returned
        says which model did ("preview" or "full")."""
        if steps is not None and self.sampler is None:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"steps: the {self.painter.spec.family} model renders in one pass")
        if quality not in ("preview", "full"):
            raise RequestError(HTTPStatus.BAD_REQUEST, f"quality must be preview or full, got {quality[:40]!r}")
        painter = self.preview if quality == "preview" and self.preview is not None else self.painter
        label = self._decoder.submit(self._decode_label, label_png, "label map").result()[1]
        photo = self._decoder.submit(self._decode_photo, style, "style photo").result() if style else None
        if self.painter.uses_style and photo is None:
            raise RequestError(
                HTTPStatus.BAD_REQUEST, "this model has a style stream: upload a style photo (JPEG or PNG) to render"
            )
        with self.render_lock:
            self.last_label = label
            self.last_seed = seed
            self.last_quality = "preview" if painter is self.preview else "full"
            start = time.perf_counter()
            try:
                if self.sampler is None or painter is not self.painter:
                    image = painter(label, style=photo, seed=seed)
                else:
                    image = self.sampler.render(label, photo, seed, steps)
            except (StyleRequired, StyleRefused, LabelError) as exc:
                raise RequestError(HTTPStatus.BAD_REQUEST, str(exc)) from None
            seconds = time.perf_counter() - start
            self.renders += 1
            used = self.last_quality
        return encode_png(image), seconds, used


    def resample(self, label_png: bytes, mask_png: bytes, base: bytes | None, seed: int, region_seed: int) -> tuple[bytes, float]:
        """Label map PNG, region mask PNG (nonzero inside) and the photo shown (optional) -> the photo
        with the region re-sampled (:meth:`Painter.resample`), as PNG bytes, and the seconds spent."""
        if not self.painter.can_resample_regions:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"this {self.painter.spec.family} model has no per-pixel noise: it cannot re-sample a region")
        label = self._decoder.submit(self._decode_label, label_png, "label map").result()[1]
        mask = self._decoder.submit(self._decode_mask, mask_png).result()
        photo = self._decoder.submit(self._decode_photo, base, "base photo").result() if base else None
        with self.render_lock:
            start = time.perf_counter()
            image = self.painter.resample(label, mask, seed=seed, region_seed=region_seed, base=photo)
            seconds = time.perf_counter() - start
            self.renders += 1
        return encode_png(image), seconds

    def _decode_mask(self, data: bytes) -> np.ndarray:
        photo = decode_photo_bytes(data, "region mask", self.max_pixels)  # any PNG; nonzero = inside
        return resize_label((photo.max(axis=2) > 127).astype(np.uint8), self.painter.size)


def _parameters(painter: Painter) -> int:
    return sum(p.numel() for p in painter.generator.parameters())


class DiffusionProgress:
    """A diffusion painter's renders with their progress: ``state()`` is what ``GET /api/progress``
    answers while a render runs (renders are serialised by the server's lock, so one at a time)."""

    def __init__(self, painter: Painter, live_steps: int | None) -> None:
        self.painter = painter
        self.steps = int(painter.steps or 1)
        self.live_steps = live_steps if live_steps is not None else max(2, self.steps // 4)
        if not 1 <= self.live_steps <= MAX_STEPS:
            raise ValueError(f"--live-steps must lie in 1..{MAX_STEPS}, got {self.live_steps}")
        self._lock = threading.Lock()
        self._state = {"rendering": False, "step": 0, "total": 0}

    def info(self) -> dict[str, int]:
        return {"steps": self.steps, "live_steps": self.live_steps, "max_steps": MAX_STEPS}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._state.update(changes)

    def render(self, label: np.ndarray, photo: np.ndarray | None, seed: int, steps: int | None) -> Image.Image:
        sampling = {} if steps is None else {"num_inference_steps": steps}
        self._update(rendering=True, step=0, total=steps or self.steps)
        try:
            return self.painter(label, style=photo, seed=seed, sampling=sampling, progress=lambda k, n: self._update(step=k, total=n))
        finally:
            self._update(rendering=False)


def parse_steps(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        steps = int(str(value).strip())
    except ValueError:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"steps must be a whole number, got {str(value)[:40]!r}") from None
    if not 1 <= steps <= MAX_STEPS:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"steps must lie in 1..{MAX_STEPS}, got {steps}")
    return steps


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    app: PaintServer
    server_version = "paintscape"
    sys_version = ""
    timeout = SOCKET_TIMEOUT  # a silent client frees its worker after this many seconds

    # --- plumbing --------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s - %s", self.address_string(), format % args)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._json(status, {"error": message, "status": int(status)})

    def _refused(self) -> str | None:
        """Why this request is refused (foreign host name or origin), or None."""
        host = (self.headers.get("Host") or "").strip()
        hostname = urlsplit(f"//{host}").hostname or ""
        if self.app.loopback_only and hostname not in _LOOPBACK_NAMES and not _is_loopback(hostname):
            return f"host name {hostname!r} is not served (the page is bound to a loopback address)"
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() == "null":
            return "requests from sandboxed frames and local files (Origin: null) are refused; open the page itself"
        if origin and urlsplit(origin).netloc != host:
            return "requests from other sites are refused"
        return None

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "the request needs a Content-Length header")
        try:
            length = int(length_header)
        except ValueError:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_header!r}") from None
        if length < 0:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_header!r}")
        limit = self.app.max_upload_bytes
        if length > limit:
            self.close_connection = True
            if length <= _MAX_DRAIN_BYTES:  # read and drop it, so the client sees the answer, not a reset
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"upload too large: {_megabytes(length)}; the limit is {_megabytes(limit)} (label map and style photo together)",
            )
        return self.rfile.read(length)

    # --- routes ----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        refused = self._refused()
        if refused:
            self._error(HTTPStatus.FORBIDDEN, refused)
        elif path == "/api/info":
            self._json(HTTPStatus.OK, self.app.info())
        elif path == "/api/progress":
            sampler = self.app.sampler
            self._json(HTTPStatus.OK, sampler.state() if sampler else {"rendering": False, "step": 0, "total": 0})
        elif path in STATIC_FILES:
            name, content_type = STATIC_FILES[path]
            self._send(HTTPStatus.OK, (STATIC_DIR / name).read_bytes(), content_type)
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        try:
            refused = self._refused()
            if refused:
                self.close_connection = True
                raise RequestError(HTTPStatus.FORBIDDEN, refused)
            if url.path not in ("/api/render", "/api/decode-label", "/api/resample"):
                self.close_connection = True
                raise RequestError(HTTPStatus.NOT_FOUND, "not found")
            body = self._read_body()
            if url.path == "/api/render":
                self._render(body)
            elif url.path == "/api/resample":
                self._resample(body)
            else:
                name = parse_qs(url.query).get("name", ["label map"])[0][:200]
                self._json(HTTPStatus.OK, self.app.decode_label(body, name))
        except RequestError as exc:
            self._error(exc.status, exc.message)
        except Exception as exc:  # the page shows it; the server keeps running
            log.exception("request %s failed", url.path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    def _render(self, body: bytes) -> None:
        content_type = self.headers.get("Content-Type", "")
        style: bytes | None
        if content_type.startswith("multipart/form-data"):
            fields = parse_form(content_type, body)
            label = fields.get("label")
            style = fields.get("style") or None
            seed = parse_seed(fields.get("seed", b"").decode("utf-8", "replace"))
            steps = parse_steps(fields.get("steps", b"").decode("utf-8", "replace"))
            want_json = fields.get("response", b"").decode("ascii", "replace") == "json"
            quality = fields.get("quality", b"full").decode("ascii", "replace") or "full"
        elif content_type.startswith("application/json"):
            try:
                payload = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON ({exc})") from None
            if not isinstance(payload, dict):
                raise RequestError(HTTPStatus.BAD_REQUEST, "the JSON body must be an object with a 'label' field")
            label = _b64decode(payload["label"], "label") if "label" in payload else None
            style = _b64decode(payload["style"], "style") if payload.get("style") else None
            seed = parse_seed(payload.get("seed"))
            steps = parse_steps(payload.get("steps"))
            want_json = payload.get("response") == "json"
            quality = str(payload.get("quality") or "full")
        else:
            raise RequestError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "send multipart/form-data (fields label, style, seed) or JSON (base64 label, style, seed)",
            )
        if label is None:
            raise RequestError(HTTPStatus.BAD_REQUEST, "missing the 'label' field: a PNG of class ids")
        png, seconds, used = self.app.render(label, style, seed, steps, quality)
        if want_json:
            image = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            self._json(HTTPStatus.OK, {"image": image, "seed": seed, "seconds": round(seconds, 4), "quality": used})
        else:
            headers = {"X-Seed": str(seed), "X-Render-Seconds": f"{seconds:.4f}", "X-Render-Quality": used}
            self._send(HTTPStatus.OK, png, "image/png", headers)

    def _resample(self, body: bytes) -> None:
        """JSON: base64 ``label`` (PNG of ids), ``mask`` (PNG, nonzero inside the region), ``base`` (the
        photo shown, optional), ``seed``, ``region_seed`` -> PNG."""
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON ({exc})") from None
        if not isinstance(payload, dict) or "label" not in payload or "mask" not in payload:
            raise RequestError(HTTPStatus.BAD_REQUEST, "send a JSON object with base64 'label' and 'mask' PNGs (and 'base', 'seed', 'region_seed')")
        label, mask = _b64decode(payload["label"], "label"), _b64decode(payload["mask"], "mask")
        base = _b64decode(payload["base"], "base") if payload.get("base") else None
        seed, region_seed = parse_seed(payload.get("seed")), parse_seed(payload.get("region_seed", 1))
        png, seconds = self.app.resample(label, mask, base, seed, region_seed)
        self._send(HTTPStatus.OK, png, "image/png", {"X-Seed": str(seed), "X-Region-Seed": str(region_seed), "X-Render-Seconds": f"{seconds:.4f}"})
