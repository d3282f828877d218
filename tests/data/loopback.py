"""A loopback HTTP file server for download tests: 127.0.0.1 only, bounded in requests and time.

Serves `files` (name -> bytes) with `Range` support. `drop_after[name] = n` makes the
first response for that file stop after n body bytes and close the connection (a
dropped download); `stall_after[name] = n` sends n bytes and then holds the connection
open until `release` is set (a download to kill midway); `ignore_range` answers every
request with the whole file.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from typing import Iterator

MAX_REQUESTS = 50
MAX_SECONDS = 60.0


class FileServer:
    def __init__(
        self,
        files: dict[str, bytes],
        drop_after: dict[str, int] | None = None,
        stall_after: dict[str, int] | None = None,
        ignore_range: bool = False,
    ) -> None:
        self.files = dict(files)
        self.drop_after = dict(drop_after or {})
        self.stall_after = dict(stall_after or {})
        self.release = threading.Event()
        self.ignore_range = ignore_range
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                if len(server.requests) > MAX_REQUESTS or name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                start = 0
                range_header = self.headers.get("Range")
                if range_header and not server.ignore_range:
                    start = int(range_header.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                stall = server.stall_after.pop(name, None)
                if stall is not None:
                    self.wfile.write(body[start : start + stall])
                    self.wfile.flush()
                    server.release.wait(MAX_SECONDS / 4)
                    self.close_connection = True
                    return
                cut = server.drop_after.pop(name, None)
                self.wfile.write(body[start:] if cut is None else body[start : start + cut])
                if cut is not None:
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = MAX_SECONDS
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@contextlib.contextmanager
def serve(files: dict[str, bytes], **options) -> Iterator[FileServer]:
    """Runs a `FileServer` in a daemon thread for the `with` block (at most MAX_SECONDS)."""
    server = FileServer(files, **options)
    thread = threading.Thread(
        target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    timer = threading.Timer(MAX_SECONDS, server.httpd.shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield server
    finally:
        timer.cancel()
        server.release.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(5)
