"""A camera on 127.0.0.1 for trying and testing stream processors: a video file served over HTTP as
a live MPEG-TS stream, paced at its own frame rate and looped (packets copied, not re-encoded).

    camera = ReplayCamera(Path("clip.mp4")).start()   # camera.url("front") -> http://127.0.0.1:PORT/front
    camera.stop()                                      # every viewer is disconnected; start() serves again

Each connection replays the file from its start; ``starts[path]`` keeps the wall-clock time each
connection began, so a frame's send time is that plus its timestamp. ``garbage=True`` sends bytes
that are no video (a malformed stream).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ReplayCamera"]


class ReplayCamera:
    def __init__(self, video: Path, *, port: int = 0, garbage: bool = False) -> None:
        self.video = video
        self.port = port
        self.garbage = garbage
        self.starts: dict[str, list[float]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def url(self, path: str = "camera") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def start(self) -> ReplayCamera:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with camera._lock:
                    camera._sockets.add(self.connection)
                    camera.starts.setdefault(self.path.strip("/"), []).append(time.time())
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp2t")
                    self.end_headers()
                    camera._serve(self.wfile)
                except Exception:  # OSError, or FFmpeg's error when the viewer went away
                    pass  # the viewer went away, or the camera was stopped
                finally:
                    with camera._lock:
                        camera._sockets.discard(self.connection)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name="replay-camera", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and disconnect every viewer (a camera that goes away)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._sockets.clear()

    def _serve(self, out: Any) -> None:
        import av

        if self.garbage:
            rng = np.random.default_rng(0)
            while not self._stopping.is_set():
                out.write(rng.bytes(188 * 64))
                time.sleep(0.05)
            return
        started, offset = time.monotonic(), 0.0
        with av.open(out, "w", format="mpegts", options={"mpegts_copyts": "1"}) as sink:
            target = None
            while not self._stopping.is_set():
                with av.open(str(self.video)) as src:
                    stream = src.streams.video[0]
                    if target is None:
                        target = sink.add_stream_from_template(stream)
                    base = float(stream.time_base or 0)
                    last = 0.0
                    for packet in src.demux(stream):
                        if packet.dts is None or self._stopping.is_set():
                            continue
                        t = float(packet.dts) * base
                        last = max(last, float(packet.pts or packet.dts) * base)
                        delay = started + offset + t - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        shift = round(offset / base)
                        packet.pts = None if packet.pts is None else packet.pts + shift
                        packet.dts = packet.dts + shift
                        packet.stream = target
                        sink.mux(packet)
                    offset += last + 1 / float(stream.average_rate or 30)
