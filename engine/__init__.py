"""Training, evaluation, Grad-CAM and scoring for chest X-ray classifiers."""
