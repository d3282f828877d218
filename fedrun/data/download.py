"""Resumable, verified, atomic HTTP downloads into fedrun's cache.

`fetch(remote, directory)` downloads `remote.url` to `directory/remote.filename`:

* the bytes go to `<filename>.partial`; an interrupted download (a dropped
  connection, a killed process) leaves only that file, and the next attempt asks
  the server for the rest with an HTTP `Range` request (a server that ignores it
  sends the whole file again, which restarts the `.partial` file);
* the finished bytes are checked against the pinned SHA-256 before the file is
  renamed to its final name with `os.replace`, so a file under the final name is
  always complete and verified. A mismatch deletes the `.partial` file (its bytes
  cannot be trusted for a resume) and raises `DownloadError` naming URL and file;
* a remote with no published checksum is trusted on first use: its SHA-256 is
  computed, written beside it as `<filename>.sha256` and printed, and a later
  download of the same file must match that record;
* progress (bytes, percent, rate) is written to stderr.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional, TextIO

MIRROR_ENV = "FEDRUN_DATA_MIRROR"
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that failed or whose bytes do not match their checksum.

    Attributes:
        url: What was being downloaded.
        path: The local file it was going to.
        problem: What went wrong.
    """

    def __init__(self, url: str, path: str, problem: str) -> None:
        self.url, self.path, self.problem = url, path, problem
        super().__init__(f"downloading {url} to {path}: {problem}")


@dataclasses.dataclass(frozen=True)
class Remote:
    """One downloadable file.

    Attributes:
        url: Where it is published.
        sha256: Its pinned SHA-256 (hex), or None where no source publishes one
            (then trust on first use).
        size: Its size in bytes, where known (for progress and the user's information).
        checksum_source: Where the pinned checksum comes from.
    """

    url: str
    sha256: Optional[str] = None
    size: Optional[int] = None
    checksum_source: str = ""

    @property
    def filename(self) -> str:
        return os.path.basename(urllib.parse.urlparse(self.url).path)

    def at(self, base_url: Optional[str]) -> str:
        """The URL under a mirror `base_url` (same file name), or the original URL."""
        if not base_url:
            return self.url
        return base_url.rstrip("/") + "/" + self.filename


def sha256_of(path: str) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Progress:
    """A one-line progress bar on a stream (one line per 10% when it is not a terminal)."""

    def __init__(self, label: str, total: Optional[int], stream: Optional[TextIO] = None) -> None:
        self.label, self.total = label, total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self.last_draw, self.last_decile = 0.0, -1

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        rate = done / max(now - self.start, 1e-6)
        if self.total:
            decile = int(10 * done / self.total)
            text = f"{self.label}: {100 * done / self.total:5.1f}% {_mb(done)}/{_mb(self.total)} {_mb(rate)}/s"
        else:
            decile = self.last_decile
            text = f"{self.label}: {_mb(done)} {_mb(rate)}/s"
        if self.tty and (final or now - self.last_draw > 0.2):
            self.stream.write("\r" + text + ("\n" if final else ""))
            self.last_draw = now
        elif not self.tty and (decile > self.last_decile or (final and not self.total)):
            self.stream.write(text + "\n")
            self.last_decile = decile
        self.stream.flush()


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": "fedrun"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https URLs from the catalog)


def _resumed_at(response: http.client.HTTPResponse, offset: int) -> bool:
    """Whether the server honoured `Range: bytes=offset-` (else it sent the whole file)."""
    if not offset or response.status != 206:
        return False
    content_range = response.headers.get("Content-Range", "")
    return content_range.startswith(f"bytes {offset}-")


def _total(response: http.client.HTTPResponse, offset: int, resumed: bool) -> Optional[int]:
    length = response.headers.get("Content-Length")
    if length is None:
        return None
    return int(length) + (offset if resumed else 0)


def _transfer(
    url: str, partial: str, timeout: float, progress: bool, expected: Optional[int]
) -> None:
    """One attempt: appends the rest of `url` to `partial` (raises OSError-family on a break)."""
    offset = os.path.getsize(partial) if os.path.exists(partial) else 0
    if expected is not None and offset >= expected:
        return
    with _open(url, offset, timeout) as response:
        resumed = _resumed_at(response, offset)
        total = _total(response, offset, resumed) or expected
        done = offset if resumed else 0
        bar = Progress(os.path.basename(partial)[: -len(".partial")], total) if progress else None
        with open(partial, "ab" if resumed else "wb") as out:
            while True:
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if bar:
                    bar.update(done)
        if bar:
            bar.update(done, final=True)
        if total is not None and done < total:
            raise http.client.IncompleteRead(b"", total - done)


def _verify(remote: Remote, url: str, partial: str, final: str) -> None:
    """Checks the finished bytes against the pinned (or recorded) checksum."""
    record = final + ".sha256"
    expected = remote.sha256
    if expected is None and os.path.exists(record):
        with open(record, encoding="ascii") as f:
            expected = f.read().split()[0]
    actual = sha256_of(partial)
    if expected is None:
        tmp = record + ".partial"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{actual}  {remote.filename}\n")
        os.replace(tmp, record)
        print(
            f"fedrun: no published SHA-256 for {remote.filename}; recorded {actual} in {record} "
            "(trusted on first use: later downloads must match it)",
            file=sys.stderr,
        )
        return
    if actual != expected.lower():
        os.remove(partial)
        raise DownloadError(
            url,
            final,
            f"SHA-256 mismatch: expected {expected}, got {actual}; the partial file was deleted",
        )


def fetch(
    remote: Remote,
    directory: str,
    base_url: Optional[str] = None,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
) -> str:
    """Downloads `remote` into `directory` unless it is already there; returns the file.

    Args:
        remote: What to download.
        directory: Where the file goes (created if missing).
        base_url: A mirror serving the same file names (default `$FEDRUN_DATA_MIRROR`,
            else the remote's own URL).
        retries: Further attempts after a dropped connection, each resuming.
        timeout: Seconds a connection may stay silent.
        progress: Write a progress bar to stderr.

    Raises:
        DownloadError: The server could not be reached or kept failing, or the
            bytes do not match the checksum.
    """
    final = os.path.join(directory, remote.filename)
    if os.path.exists(final):
        return final
    url = remote.at(base_url if base_url is not None else os.environ.get(MIRROR_ENV))
    partial = final + ".partial"
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as err:
        raise DownloadError(url, final, f"cannot create the directory: {err}") from None
    for attempt in range(retries + 1):
        try:
            _transfer(url, partial, timeout, progress, remote.size)
            break
        except urllib.error.HTTPError as err:
            if err.code == 416 and os.path.exists(partial):
                # The partial file is already at least as long as the server's file.
                break
            raise DownloadError(url, final, f"HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            if attempt == retries:
                reason = getattr(err, "reason", err)
                raise DownloadError(
                    url,
                    final,
                    f"network failure after {retries + 1} attempts: {reason}; run the same command to resume",
                ) from None
            time.sleep(min(2.0**attempt, 10.0) * 0.1)
    _verify(remote, url, partial, final)
    os.replace(partial, final)
    return final
