"""Evaluation: metrics, calibration, thresholds, health, drift, perturbations, typicality,
ensembles and site adaptation."""
