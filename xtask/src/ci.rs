//! `cargo xtask ci`: exactly what CI runs, in order, failing on the first failure.

use std::process::Command;

use clap::Args;

use crate::util::{cmd, run_with};

#[derive(Debug, Args)]
pub struct CiArgs {
    /// Skip building the staging images (tests that need them will then fail).
    #[arg(long)]
    skip_images: bool,
}

pub fn run(args: CiArgs) -> anyhow::Result<()> {
    cmd("cargo", &["fmt", "--all", "--", "--check"])?;
    cmd(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run_with(
        Command::new("cargo")
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    // One release build of every target serves both the images and the tests: building the
    // binaries alone would resolve other dependency features and compile the tree twice.
    cmd(
        "cargo",
        &["build", "--workspace", "--release", "--all-targets"],
    )?;
    if !args.skip_images {
        crate::images::run(crate::images::ImagesArgs {
            skip_build: true,
            ..Default::default()
        })?;
    }
    cmd(
        "cargo",
        &["test", "--workspace", "--release", "--no-fail-fast"],
    )
}
