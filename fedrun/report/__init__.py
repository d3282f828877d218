"""Reports across runs: tables (Markdown, CSV) and metric curves (PNG)."""
