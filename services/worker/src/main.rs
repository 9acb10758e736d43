//! `cricalgo-worker`: credits each stored deposit exactly once.
fn main() {}
