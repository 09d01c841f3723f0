"""Inference: a run's predictor, scoring files, storing uploads with their scores."""
