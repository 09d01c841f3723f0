"""The report to share: one self-contained HTML file of one or more runs (`cxr report`, the
Download report button), with its pure figure builders, which the dashboard draws too."""
