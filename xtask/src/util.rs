//! Small helpers shared by the tasks: the workspace root and running commands loudly.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The workspace root (the folder above `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs `program args…` from the workspace root, echoing it, and fails when it fails.
pub fn cmd(program: &str, args: &[&str]) -> anyhow::Result<()> {
    run_with(Command::new(program).args(args))
}

/// Runs a prepared command from the workspace root, echoing it, and fails when it fails.
pub fn run_with(command: &mut Command) -> anyhow::Result<()> {
    command.current_dir(root());
    eprintln!("$ {}", describe(command));
    let status = command
        .status()
        .with_context(|| format!("failed to start `{}`", describe(command)))?;
    if !status.success() {
        bail!("`{}` failed with {status}", describe(command));
    }
    Ok(())
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
