//! `cricalgo-webhook`: the deposit webhook app (axum).
fn main() {}
