"""A site-calibrated run in the shift view: how far its new operating point can be trusted.

A pure builder (no queries): the sample's class counts, what was refitted, the bootstrap
intervals of sensitivity and specificity at the new threshold, and the warning when a class has
too few images (engine/evaluation/site_fit.py words it, for the command line and here alike).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from db.site_calibration import SiteCalibrationInfo
from engine.evaluation.site_fit import count_warning


def trust_note(info: SiteCalibrationInfo) -> html.Div:
    """One calibrated run's sample and intervals, under its shift table."""
    rates = (f"sensitivity {info.sensitivity:.3f} ({info.sensitivity_low:.3f}-"
             f"{info.sensitivity_high:.3f}), specificity {info.specificity:.3f} "
             f"({info.specificity_low:.3f}-{info.specificity_high:.3f})")
    children = [html.Div(
        f"Calibration sample {info.sample_dataset or '?'}: {info.n_normal} NORMAL, "
        f"{info.n_pneumonia} PNEUMONIA; refitted: {info.method}. At the new threshold on the "
        f"sample (in-sample): {rates}, {info.confidence:.0%} bootstrap intervals.",
        className="small")]
    warning = count_warning(info.n_normal, info.n_pneumonia)
    if warning:
        children.append(dbc.Alert(f"Warning: {warning}", color="warning",
                                  className="py-1 px-2 small mb-0 sample-warning"))
    return html.Div(children, className="site-calibration-note mb-3")
