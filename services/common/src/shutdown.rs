//! Graceful shutdown: the signal both services wait for before draining.

/// Resolves on SIGTERM or Ctrl-C, then logs what the process does next (`draining`).
pub async fn signal(draining: &str) {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            // Without a SIGTERM handler, Ctrl-C alone stops the process.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, {draining}");
}
