//! `cricalgo-worker`: credits each stored deposit exactly once. `healthcheck` probes the local
//! process.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cricalgo_worker::main_with_args(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cricalgo-worker: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
