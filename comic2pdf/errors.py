"""Every failure comic2pdf reports, in one hierarchy.

Each class carries a ``reason`` code. The same code is written to the
``.error.json`` file, used as the ``reason`` label of metrics and printed by the
CLI, so the three always agree. ``retryable`` tells the Prefect tasks whether
another attempt can possibly succeed: broken input never can.
"""

from pathlib import Path


class ComicError(Exception):
    """Base class of every error comic2pdf raises on purpose."""

    reason = "error"
    retryable = False

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        return f"{self.path.name}: {self.reason}: {self.message}"

    def __reduce__(self):
        # Keep the path when Prefect pickles the exception into a task result.
        return (_rebuild, (type(self), self.message, self.path))


def _rebuild(cls: type["ComicError"], message: str, path: Path | None) -> "ComicError":
    return cls(message, path=path)


# --- broken or hostile input: never retried -----------------------------------


class InputError(ComicError):
    """The input itself is unusable; retrying cannot help."""


class InputMissing(InputError):
    reason = "not_found"


class NotAnArchive(InputError):
    reason = "not_an_archive"


class EncryptedArchive(InputError):
    reason = "encrypted"


class CorruptArchive(InputError):
    reason = "corrupt"


class UnsupportedMethod(InputError):
    """A compression method or filter neither our libraries nor 7-Zip can read."""

    reason = "unsupported_method"


class NoImages(InputError):
    reason = "no_images"


class UnsafePath(InputError):
    reason = "unsafe_path"


class TooLarge(InputError):
    """Archive or input over a size, entry-count or compression-ratio limit."""

    reason = "too_large"


class ImageTooLarge(InputError):
    reason = "image_too_large"


class OcrInputRefused(InputError):
    """ocrmypdf refused raw.pdf (unreadable, already has text, encrypted): no retry helps."""

    reason = "ocr_input_refused"


class BadImage(InputError):
    reason = "bad_image"


# --- the machine or the tools: worth another attempt ---------------------------


class ToolError(ComicError):
    """An external program failed; a later attempt may succeed."""

    retryable = True


class StageTimeout(ToolError):
    """A stage or its child process ran past its time limit and was killed."""

    reason = "timeout"


class OcrFailed(ToolError):
    reason = "ocr_failed"


class InvalidPdf(ToolError):
    reason = "pdf_invalid"


class InvalidOcrOutput(InvalidPdf):
    """ocrmypdf judged its own output invalid (exit 4): the same input does it again."""

    retryable = False


class DiskError(ToolError):
    """Not enough free space, or a write failed for lack of it."""

    reason = "disk_error"


class DatabaseBusy(ToolError):
    """The job database stayed locked by another process past the busy timeout."""

    reason = "database_busy"


class DatabaseUnreachable(ToolError):
    """The job store's PostgreSQL server did not answer (down, wrong host, network)."""

    reason = "database_unreachable"


class PushFailed(ToolError):
    """The Pushgateway was unreachable, too slow or refused the push; the next push carries all."""

    reason = "push_failed"


class JobCancelled(ComicError):
    """The run was cancelled (Prefect UI, ``prefect flow-run cancel``, its scan cancelled).

    Not retried: move the input from ``error/`` back to ``in/`` to convert it again.
    """

    reason = "cancelled"


class MissingTool(ComicError):
    """A required program is not installed; fix the installation, then retry."""

    reason = "missing_tool"


class SettingsError(ComicError):
    reason = "bad_settings"


class StoreMissing(ComicError):
    """No job store in the data folder: reporting on one must never create an empty one."""

    reason = "no_job_store"


class NotWritable(ComicError):
    """A folder or file comic2pdf must write is read-only, or a folder where a file belongs."""

    reason = "not_writable"


class DecisionError(ComicError):
    """A duplicate decision that cannot be applied."""

    reason = "bad_decision"


def _subclasses(cls: type[ComicError]) -> list[type[ComicError]]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in _subclasses(child))]


#: Every reason code, for documentation and for label value sets in metrics.
REASONS: tuple[str, ...] = tuple(sorted({cls.reason for cls in _subclasses(ComicError)}))


def reason_of(exc: BaseException) -> str:
    """Return the reason code for any exception (``error`` for foreign ones)."""
    if isinstance(exc, ComicError):
        return exc.reason
    if isinstance(exc, TimeoutError):
        return StageTimeout.reason
    if isinstance(exc, OSError) and exc.errno == 28:  # ENOSPC
        return DiskError.reason
    return ComicError.reason


def message_of(exc: BaseException) -> str:
    """The message for the error file and the CLI: ours as written, a foreign one with its type."""
    if isinstance(exc, ComicError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
