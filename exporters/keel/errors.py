"""Exceptions raised by keel's Python package.

The tree mirrors the runtime's error enum (``runtime/src/error.rs``), one class per kind, so
callers can catch as broadly or as narrowly as they need::

    KeelError
    ├── UnsupportedError          the exporter cannot express an estimator or parameter
    ├── ComposeError              a pipeline and a network that do not join (keel.compose)
    ├── BundleError               the bundle is unreadable, corrupt or invalid   (.path)
    │   └── PlanError             a node's attributes or bindings are invalid   (.node, .op)
    │       └── UnknownOpError    the graph names an op this runtime lacks      (.node, .op)
    └── InputError                the data handed to ``transform`` is wrong     (.column, .row, .value)
        ├── MissingColumnError
        ├── ExtraColumnError
        ├── ColumnTypeError       (.expected, .found)
        │   └── TensorShapeError  a tensor of the wrong shape                   (.node)
        ├── RowCountError         (.expected, .found)
        ├── EmptyFrameError
        ├── MissingValueError     a null or NaN where the stage takes none      (.node)
        ├── NonFiniteError        an infinity where the stage needs finite numbers (.node)
        ├── UnknownCategoryError  a category the encoder never saw              (.node)
        └── BadValueError

Attributes the error does not know are ``None``. Rows count from 0 within the frame given to
``transform``. The errors carry their attributes through pickling (Spark ships exceptions
between processes).
"""

from __future__ import annotations

from typing import Any


class KeelError(Exception):
    """Base class of every keel error."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles only `args`; keyword attributes would be lost (or break __init__).
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type, args: tuple[Any, ...], state: dict[str, Any]) -> KeelError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


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


class ComposeError(KeelError, ValueError):
    """A feature pipeline and a network that do not join (``keel.compose``, the exporters'
    ``network=``): a network input left unconnected, a column that does not exist, a width or
    dtype the input cannot take. The message names the network input and the columns; nothing
    is written."""


class BundleError(KeelError, ValueError):
    """The bundle is unreadable or invalid (corrupt zip, digest mismatch, bad manifest, a
    graph that does not plan). ``path`` is the file it was read from, if any."""

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class PlanError(BundleError):
    """A node's attributes or bindings are invalid: the bundle is refused at load."""

    def __init__(self, message: str, *, node: str | None = None, op: str | None = None,
                 path: str | None = None):
        super().__init__(message, path=path)
        self.node = node
        self.op = op


class UnknownOpError(PlanError):
    """The graph names an op this runtime does not implement (``keel ops`` lists them)."""


class InputError(KeelError, ValueError):
    """The data handed to ``transform`` does not fit the bundle's input schema.

    ``column`` names the input column (or the feature derived from it), ``row`` the row
    within the frame, ``value`` the offending value, ``node`` the stage that refused it.
    """

    def __init__(self, message: str, *, column: str | None = None, row: int | None = None,
                 value: Any = None, node: str | None = None):
        super().__init__(message)
        self.column = column
        self.row = row
        self.value = value
        self.node = node


class MissingColumnError(InputError):
    """An input column the bundle needs is absent."""


class ExtraColumnError(InputError):
    """A column the bundle does not know (refused unless loaded with
    ``ignore_extra_columns=True``)."""


class ColumnTypeError(InputError, TypeError):
    """A column has the wrong type: ``expected`` is the declared type, ``found`` the one
    supplied."""

    def __init__(self, message: str, *, column: str | None = None, expected: str | None = None,
                 found: str | None = None, **kw: Any):
        super().__init__(message, column=column, **kw)
        self.expected = expected
        self.found = found


class TensorShapeError(ColumnTypeError):
    """A tensor of the wrong shape: ``expected`` and ``found`` are the shapes, ``row`` the row
    when the error is about one row."""


class RowCountError(InputError):
    """The input's columns disagree on the number of rows."""

    def __init__(self, message: str, *, column: str | None = None, expected: int | None = None,
                 found: int | None = None, **kw: Any):
        super().__init__(message, column=column, **kw)
        self.expected = expected
        self.found = found


class EmptyFrameError(InputError):
    """The input has no rows."""


class MissingValueError(InputError):
    """A null (or NaN) where the stage cannot take one."""


class NonFiniteError(InputError):
    """An infinite number where the stage needs finite ones; ``value`` is the number."""


class UnknownCategoryError(InputError):
    """A category the encoder never saw (fitted with ``handle_unknown='error'``); ``value``
    is the category."""


class BadValueError(InputError):
    """Any other value the stage cannot take."""


#: The class raised for each runtime error code (``keel_runtime::Error::code``, also the
#: ``code`` of the REST server's error answers). The native module picks the class here, so
#: this is the one place the mapping lives; a code missing from it is raised as ``KeelError``.
CLASS_BY_CODE: dict[str, type[KeelError]] = {
    "bundle": BundleError,
    "interface": BundleError,
    "load": BundleError,
    "unknown_op": UnknownOpError,
    "plan": PlanError,
    "missing_column": MissingColumnError,
    "extra_column": ExtraColumnError,
    "column_type": ColumnTypeError,
    "missing_value": MissingValueError,
    "non_finite": NonFiniteError,
    "unknown_category": UnknownCategoryError,
    "bad_value": BadValueError,
    "empty_frame": EmptyFrameError,
    "tensor_shape": TensorShapeError,
    "row_count": RowCountError,
}


class TrainingError(KeelError):
    """Training stopped without a model: the loss diverged (``step`` names where), the
    workers could not reach each other (``rank`` names the peer), or a checkpoint did not fit
    the run. Bad data raises the :class:`InputError` family instead, naming the column and
    row."""

    def __init__(self, message: str, *, step: int | None = None, rank: int | None = None):
        super().__init__(message)
        self.step = step
        self.rank = rank
