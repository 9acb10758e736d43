//! B4: credited deposits/s by a worker process (Redis stream, consumer group) against the raw
//! credit transaction (the same SQL, the same concurrency, no Redis), alternating sides for
//! several rounds; writes `artifacts/bench_worker_<UTC>.json`.

use clap::Args;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Worker concurrency, and tasks on the raw side.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Measured rounds per side (plus one warm-up round).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Deposits credited per round and side.
    #[arg(long, default_value_t = 4000)]
    deposits: usize,
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let result = super::webhook::drive(
        "worker",
        &[
            ("--concurrency", args.concurrency.to_string()),
            ("--rounds", args.rounds.to_string()),
            ("--deposits", args.deposits.to_string()),
        ],
    )?;
    super::webhook::report(
        "worker",
        result,
        "worker_process",
        "raw_credit_transaction",
        &format!("B4 at concurrency {}", args.concurrency),
    )
}
