"""Fitting: the split, fits and cross-validation, model logging, training and tuning."""
