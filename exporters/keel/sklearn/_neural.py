"""Converters for scikit-learn neural estimators (filled in by their op family)."""
