//! `cricalgo-webhook`: the deposit webhook app (axum). `healthcheck` probes the local process.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cricalgo_webhook::main_with_args(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cricalgo-webhook: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
