//! `cricalgo completions`: print a shell completion script.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::{Cli, Exit};

/// Print shell completions, e.g. `cricalgo completions bash > /etc/bash_completion.d/cricalgo`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    pub shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "cricalgo", &mut std::io::stdout());
    Ok(Exit::Success)
}
