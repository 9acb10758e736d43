//! The `cricalgo` binary: parse the command line, run it, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cricalgo::Cli::parse();
    match cricalgo::run(cli) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            eprintln!("cricalgo: {}", cricalgo::exit::render_chain(&err));
            ExitCode::from(cricalgo::exit::code_for(&err))
        }
    }
}
