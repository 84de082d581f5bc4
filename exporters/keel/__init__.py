"""keel: export trained pipelines to portable bundles and score them anywhere.

This package holds the exporters (``keel.sklearn``); the embedded scoring API arrives with the
native module. A bundle is one zip file; see ``bundle-spec/SPEC.md`` in the repository.
"""

from keel.errors import KeelError, UnsupportedError

__version__ = "0.1.0"
__all__ = ["KeelError", "UnsupportedError", "__version__"]
