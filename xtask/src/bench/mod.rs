//! `cargo xtask bench <name>`: side-by-side benchmarks from `quality.md`. Each prints a table and
//! writes `artifacts/bench_<name>_<UTC>.json`.

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.bench {}
}
