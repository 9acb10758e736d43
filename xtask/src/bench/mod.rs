//! `cargo xtask bench <name>`: side-by-side benchmarks from `quality.md`. Each prints a table and
//! writes `artifacts/bench_<name>_<UTC>.json`.

use clap::{Args, Subcommand};

mod stack_up;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// B5: `cricalgo staging up` vs `docker-compose up -d` + polling, until all healthy.
    StackUp(stack_up::StackUpArgs),
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.bench {
        Bench::StackUp(args) => stack_up::run(args),
    }
}
