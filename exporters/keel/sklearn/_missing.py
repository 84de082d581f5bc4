"""Missing strings: what an Arrow null at a string input stands for in scikit-learn.

scikit-learn has two missing markers in object columns and treats them differently:
``SimpleImputer(missing_values=np.nan)`` imputes ``NaN`` and passes ``None`` on,
``SimpleImputer(missing_values=None)`` imputes ``None`` and refuses ``NaN``, an encoder learns
each as a category of its own (``categories_ = ['a', 'b', None, nan]``), and a
HistGradientBoosting categorical feature codes ``None`` as a category but ``NaN`` as missing.
Which one a column holds depends on pandas: a pandas 2 object column usually holds ``None``
(``read_csv`` gives ``NaN``), a pandas 3 ``str`` column and a categorical column only ``NaN``.

Arrow has one null. A bundle therefore fixes, per string input, what its null means (SPEC.md,
"Missing strings"): ``none``, ``nan``, or ``missing`` where no step tells the two apart. The
exporter works it out in two passes over the pipeline: the first (the survey) records, for each
input, which steps tell None from NaN (and how) and what their fitted state shows of the
training data (a ``None`` or ``NaN`` category, an imputer's indicator); then :meth:`settle`
decides, from the ``missing_strings`` option, the sample's dtype and values, and that evidence;
the second pass writes each op's attributes for the settled meaning.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from keel._bundle import Col
from keel.errors import UnsupportedError

NONE, NAN, MISSING = "none", "nan", "missing"


def _is_nan(v: Any) -> bool:
    """A float NaN (numpy's float64 is a float); pandas' ``pd.NA`` is not: scikit-learn
    refuses it in string columns."""
    return isinstance(v, float) and math.isnan(v)


@dataclass
class _Input:
    fixed: str | None = None  # set by the option or by a dtype that holds one kind only
    why_fixed: str = ""
    seen: set[str] = field(default_factory=set)  # kinds of missing values seen (sample, fit)
    seen_where: list[str] = field(default_factory=list)
    differs: list[str] = field(default_factory=list)  # how steps treat None and NaN apart
    meaning: str | None = None  # settled


class Nulls:
    """What a null means at each string input, and which input each string column carries."""

    def __init__(self) -> None:
        self.inputs: dict[str, _Input] = {}
        self.origin: dict[str, str] = {}  # string column -> the input it descends from
        self.settled = False

    @classmethod
    def from_sample(cls, inputs: list[Col], sample: Any, option: dict[str, str] | None) -> "Nulls":
        n = cls()
        strings = [c.name for c in inputs if c.width is None and c.dtype == "utf8"]
        for name in strings:
            n.inputs[name] = _Input()
        for name, v in (option or {}).items():
            if name not in n.inputs:
                raise UnsupportedError(
                    f"missing_strings names `{name}`, which is not a string input column", "missing_strings",
                    "string inputs: " + (", ".join(strings) or "none"),
                )
            if v not in (NONE, NAN):
                raise UnsupportedError(
                    f"missing_strings[{name!r}] is {v!r}; a null stands for 'none' or 'nan'", "missing_strings",
                )
            n.inputs[name].fixed, n.inputs[name].why_fixed = v, "missing_strings"
        n._read_sample(sample)
        return n

    def _read_sample(self, sample: Any) -> None:
        if sample is None or not self.inputs:
            return
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is optional
            pd = None
        for name, inp in self.inputs.items():
            if pd is not None and isinstance(sample, pd.DataFrame):
                s = sample[name]
                if isinstance(s.dtype, pd.CategoricalDtype) or isinstance(s.dtype, pd.StringDtype):
                    # Categories and pandas' string dtypes hold one missing marker, which
                    # scikit-learn sees as NaN (pandas 3's `str` is StringDtype(na_value=nan)).
                    kind = NAN
                    if inp.fixed is not None and inp.fixed != kind:
                        raise UnsupportedError(
                            f"missing_strings[{name!r}] is {inp.fixed!r}, but the sample's column `{name}` is "
                            f"{s.dtype}, whose missing values scikit-learn sees as NaN", "missing_strings",
                        )
                    inp.fixed, inp.why_fixed = kind, f"the sample's dtype {s.dtype}"
                    continue
                values = s.tolist() if s.hasnans else []
            else:
                import numpy as np

                arr = np.asarray(sample)
                names = list(self.inputs)
                if arr.ndim != 2 or arr.dtype != object:
                    continue
                values = list(arr[:, names.index(name)]) if len(names) == arr.shape[1] else []
            if any(v is None for v in values):
                inp.seen.add(NONE)
                inp.seen_where.append("the sample holds None")
            if any(_is_nan(v) for v in values):
                inp.seen.add(NAN)
                inp.seen_where.append("the sample holds NaN")

    # -- what converters ask and report ----------------------------------------------------

    def input_of(self, col: Col) -> str | None:
        """The string input a scalar string column carries, or None for anything else."""
        if col.width is not None or col.dtype != "utf8":
            return None
        name = self.origin.get(col.name, col.name)
        return name if name in self.inputs else None

    def derive(self, out: Col, src: Col) -> None:
        """``out`` carries ``src``'s values (and its nulls, where they are not replaced)."""
        name = self.input_of(src)
        if name is not None:
            self.origin[out.name] = name

    def meaning(self, col: Col) -> str:
        """``none``, ``nan`` or ``missing`` for the null of ``col`` (``missing`` also for
        columns that are not string inputs, and while surveying)."""
        name = self.input_of(col)
        if name is None or not self.settled:
            return MISSING
        m = self.inputs[name].meaning
        assert m is not None
        return m

    def differs(self, col: Col, where: str, none_does: str, nan_does: str) -> None:
        """Records that the step at ``where`` treats None and NaN at ``col`` differently."""
        name = self.input_of(col)
        if name is not None and not self.settled:
            self.inputs[name].differs.append(f"{where}: None {none_does}, NaN {nan_does}")

    def saw(self, col: Col, kind: str, where: str) -> None:
        """Records that the fitted state at ``where`` shows ``kind`` reached it in training."""
        name = self.input_of(col)
        if name is not None and not self.settled:
            self.inputs[name].seen.add(kind)
            self.inputs[name].seen_where.append(f"{where} saw {'None' if kind == NONE else 'NaN'} at fit")

    # -- deciding -------------------------------------------------------------------------

    def settle(self) -> None:
        """Decides every input's meaning, or refuses an input whose nulls the pipeline tells
        apart when nothing says which they are."""
        for name, inp in self.inputs.items():
            if not inp.differs:
                inp.meaning = MISSING
            elif inp.fixed is not None:
                inp.meaning = inp.fixed
            elif len(inp.seen) == 1:
                inp.meaning = next(iter(inp.seen))
            else:
                how = "; ".join(dict.fromkeys(inp.differs))
                if inp.seen:
                    why = "both occur (" + ", ".join(dict.fromkeys(inp.seen_where)) + ")"
                else:
                    why = "neither the sample nor the fitted pipeline shows which one its missing values are"
                raise UnsupportedError(
                    f"string column `{name}`: the fitted pipeline treats None and NaN differently ({how}), "
                    f"and {why}; a missing value at scoring time has one meaning in a keel bundle",
                    "missing_strings",
                    f"say which one a missing `{name}` is: missing_strings={{{name!r}: 'none'}} or "
                    f"missing_strings={{{name!r}: 'nan'}}",
                )
        self.settled = True

    def metadata(self) -> str | None:
        """The ``keel.missing_strings`` metadata entry: input name -> meaning."""
        if not self.inputs:
            return None
        return json.dumps({k: v.meaning for k, v in self.inputs.items()}, separators=(",", ":"), sort_keys=True)
