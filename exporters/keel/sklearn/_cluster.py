"""Converters for scikit-learn cluster estimators (filled in by their op family)."""
