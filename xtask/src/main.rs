//! `cargo xtask`: the project's automation in Rust.
//!
//! - `cargo xtask ci` runs exactly what CI runs (fmt, clippy, docs, release build, images, tests);
//! - `cargo xtask images` builds the staging images without a registry;
//! - `cargo xtask bench <name>` runs one of the side-by-side benchmarks of `quality.md`.

mod bench;
mod ci;
mod images;
mod util;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Xtask {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// fmt check, clippy -D warnings, docs, release build, images, all tests.
    Ci(ci::CiArgs),
    /// Build every image the staging compose file names, without a registry.
    Images(images::ImagesArgs),
    /// Side-by-side benchmarks (ratios against a peer in the same run).
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let task = Xtask::parse();
    let result = match task.command {
        Task::Ci(args) => ci::run(args),
        Task::Images(args) => images::run(args),
        Task::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
