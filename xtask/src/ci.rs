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
    // One release build serves both the images and the tests.
    cmd("cargo", &["build", "--workspace", "--release", "--bins"])?;
    if !args.skip_images {
        crate::images::run(crate::images::ImagesArgs::default())?;
    }
    cmd(
        "cargo",
        &["test", "--workspace", "--release", "--no-fail-fast"],
    )
}
