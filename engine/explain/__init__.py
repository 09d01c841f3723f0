"""Explanations: Grad-CAM, attention metrics, the lung mask, ROAD faithfulness."""
