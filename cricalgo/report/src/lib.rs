//! Run folders and reports: manifest with checksums, HTML with SVG plots, Markdown, run comparison.
