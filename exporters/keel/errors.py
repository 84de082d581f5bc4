"""Exceptions raised by keel's Python package."""


class KeelError(Exception):
    """Base class of every keel error."""


class UnsupportedError(KeelError, ValueError):
    """An estimator, parameter value or function that the exporter cannot express.

    Raised before anything is written, naming what is unsupported and where it sits in the
    pipeline (``path``), so a user knows which step to change.
    """

    def __init__(self, what: str, path: str = "", hint: str = ""):
        self.what = what
        self.path = path
        self.hint = hint
        msg = what if not path else f"{path}: {what}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)
