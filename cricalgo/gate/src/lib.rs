//! k6 summary formats, the threshold grammar and the acceptance gate: one verdict function for every place a verdict appears.
