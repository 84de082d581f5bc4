"""Converters for scikit-learn trees estimators (filled in by their op family)."""
