//! (binary only) The first Ctrl-C or SIGTERM stops the run — which still
//! writes every report, verdict INCOMPLETE — and a second one exits at once.
//! SIGTERM is what a CI job's timeout or cancel sends.

use tokio::sync::watch;

/// Installs the handlers now (a signal from here on is never lost) and
/// watches for them on the current runtime. `note` tells the user.
pub fn install(
    cancel: watch::Sender<Option<String>>,
    note: impl Fn(&str) + Send + 'static,
) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            let first = tokio::select! {
                _ = int.recv() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
            note(&format!(
                "interrupted: finishing the report ({first}; Ctrl-C or SIGTERM again to abort)"
            ));
            let _ = cancel.send(Some(first.to_string()));
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
                note("interrupted: finishing the report (Ctrl-C; again to abort)");
                let _ = cancel.send(Some("Ctrl-C".to_string()));
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }
    Ok(())
}
