//! `cricalgo db`: migrate the schema and seed test users.

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::Exit;

/// Database schema and test data.
#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Apply the schema migrations (idempotent; safe while services start).
    Migrate(Target),
    /// Create idempotent test users (telegram_id 100001..) with wallets, migrating first.
    Seed(SeedArgs),
}

#[derive(Debug, Args)]
struct Target {
    /// Postgres URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

#[derive(Debug, Args)]
struct SeedArgs {
    #[command(flatten)]
    target: Target,
    /// How many test users (telegram_id 100001 ..= 100000 + N).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    users: u32,
}

/// The target database URL; one that is not a Postgres URL is a usage error (exit 2).
fn database_url(target: &Target) -> anyhow::Result<&str> {
    let url = target.database_url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url)
    } else {
        Err(crate::exit::usage(anyhow::anyhow!(
            "`--database-url` (or `DATABASE_URL`) must be a postgres:// URL, e.g. \
             postgres://user:password@127.0.0.1:5432/cricalgo"
        )))
    }
}

pub async fn run(args: DbArgs) -> anyhow::Result<Exit> {
    match args.command {
        DbCommand::Migrate(target) => {
            let pool = cricalgo_common::db::connect(database_url(&target)?).await?;
            cricalgo_common::db::migrate(&pool).await?;
            println!("migrations applied");
        }
        DbCommand::Seed(seed) => {
            let pool = cricalgo_common::db::connect(database_url(&seed.target)?).await?;
            cricalgo_common::db::migrate(&pool).await?;
            let count = cricalgo_common::db::seed(&pool, seed.users)
                .await
                .context("failed to seed the test users")?;
            let first = cricalgo_common::db::SEED_TELEGRAM_ID_BASE + 1;
            println!(
                "{count} test users present (telegram_id {first}..={})",
                cricalgo_common::db::SEED_TELEGRAM_ID_BASE + i64::from(seed.users)
            );
        }
    }
    Ok(Exit::Success)
}
