//! `cargo xtask bench <name>`: side-by-side benchmarks from `quality.md`. Each prints a table and
//! writes `artifacts/bench_<name>_<UTC>.json`.

use clap::{Args, Subcommand};

mod loadgen;
mod stack_up;
mod webhook;
mod worker;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// B3: webhook accepted/s through nginx + 3 apps vs the raw inbox insert.
    Webhook(webhook::WebhookArgs),
    /// B4: worker credited/s vs the raw credit transaction.
    Worker(worker::WorkerArgs),
    /// B5: `cricalgo staging up` vs `docker-compose up -d` + polling, until all healthy.
    StackUp(stack_up::StackUpArgs),
    /// B1 + B2: load engine requests/s vs `wrk` and `oha` (pinned cores), RSS over a long run.
    Loadgen(loadgen::LoadgenArgs),
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.bench {
        Bench::Webhook(args) => webhook::run(args),
        Bench::Worker(args) => worker::run(args),
        Bench::StackUp(args) => stack_up::run(args),
        Bench::Loadgen(args) => loadgen::run(args),
    }
}
