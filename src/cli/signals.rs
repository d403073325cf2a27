//! The two-stage interrupt, for every command that runs: the first Ctrl-C
//! or SIGTERM stops the run — which still writes every report, verdict
//! INCOMPLETE — and a second one exits at once (130 for Ctrl-C, 143 for
//! SIGTERM). SIGTERM is what a CI job's timeout or cancel sends.

/// Installs the handlers now (a signal from here on is never lost) and
/// watches for them on the current runtime; `first` is called once, with
/// "Ctrl-C" or "SIGTERM", to stop the run and tell the user.
pub fn install(first: impl FnOnce(&str) + Send + 'static) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            let why = tokio::select! {
                _ = int.recv() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
            first(why);
            let code = tokio::select! {
                _ = int.recv() => 130,
                _ = term.recv() => 143,
            };
            std::process::exit(code);
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                first("Ctrl-C");
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }
    Ok(())
}
