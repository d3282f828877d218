"""The error type for unusable data files and clients."""

from __future__ import annotations

from typing import Optional


class DataError(ValueError):
    """Data fedrun cannot train on: a missing, corrupt or inconsistent file or client.

    Attributes:
        source: The file or directory (or data set name) at fault.
        problem: What is wrong, and how to fix it where that is known.
        client_id: The client at fault, if one is.
    """

    def __init__(self, source: str, problem: str, client_id: Optional[str] = None) -> None:
        self.source = source
        self.problem = problem
        self.client_id = client_id
        where = f"{source} (client {client_id!r})" if client_id is not None else source
        super().__init__(f"{where}: {problem}")
