"""Errors a user can cause, each with a message that names the file and the reason."""

from __future__ import annotations

from pathlib import Path


class RagError(Exception):
    """Root of every error a user can cause or fix; its message is shown as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Cancelled(Exception):  # reads as a state, like Anki's Interrupted
    """The user cancelled the operation. Never shown as an error."""


class ConfigError(RagError):
    """A setting or command-line option is invalid."""


class ModelError(RagError):
    """A model file is missing, incomplete, tampered with or unusable."""

    def __init__(self, path: Path | str, reason: str, hint: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.hint = hint or (
            "Download the models with `embeddinggemma-rag models download`, import files you "
            "have with `embeddinggemma-rag models import PATH`, or pass the path option."
        )
        super().__init__(f"{self.path}: {reason}. {self.hint}")


class DocumentError(RagError):
    """One document could not be read. Ingestion records it and goes on with the others.

    `status` is the status the document ends with: "failed", "skipped" or "no_text".
    """

    status = "failed"

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UnsupportedDocument(DocumentError):
    """Not a file type the app reads (it is skipped, not failed)."""

    status = "skipped"


class NoTextDocument(DocumentError):
    """The file opened but holds no extractable text, e.g. a scanned PDF."""

    status = "no_text"


class LibraryError(RagError):
    """The library (database or index) cannot be opened or written."""


STOPPED_UNEXPECTEDLY = "the answer model stopped unexpectedly"


class AnswerModelCrashed(ModelError):
    """The answer model's process died mid-request (a native fault or an out-of-memory kill).

    Only that request fails: the next one starts a fresh process
    (core/answering/chat_process.py). It lives here, with the other errors, so a caller can
    catch it without that module.
    """

    def __init__(self, path: Path, how: str) -> None:
        super().__init__(
            path,
            f"{STOPPED_UNEXPECTEDLY} ({how})",
            hint="Ask again to retry; if it keeps happening, choose another answer model.",
        )
