//! The shutdown signal: a first request drains the pipeline within its deadline, a second one
//! (or the deadline) stops it at once.

use tokio::sync::watch;

const RUNNING: u8 = 0;
const DRAIN: u8 = 1;
const NOW: u8 = 2;

/// The shutdown signal, as stages and the runtime see it.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<u8>);

/// The side that requests shutdown.
#[derive(Clone, Debug)]
pub struct ShutdownTrigger(watch::Sender<u8>);

impl Shutdown {
    /// A trigger and its signal.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(RUNNING);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// Whether shutdown was requested (drain or immediate).
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow() >= DRAIN
    }

    /// Whether an immediate stop was requested.
    pub fn is_immediate(&self) -> bool {
        *self.0.borrow() >= NOW
    }

    /// Waits until shutdown is requested (forever if the trigger is dropped without it).
    pub async fn wait(&mut self) {
        self.wait_level(DRAIN).await
    }

    /// Waits until an immediate stop is requested.
    pub async fn wait_immediate(&mut self) {
        self.wait_level(NOW).await
    }

    async fn wait_level(&mut self, level: u8) {
        if self.0.wait_for(|v| *v >= level).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl ShutdownTrigger {
    /// Requests a drain: sources stop, every stage drains within the deadline.
    pub fn trigger(&self) {
        self.0.send_if_modified(|v| {
            let changed = *v < DRAIN;
            *v = (*v).max(DRAIN);
            changed
        });
    }

    /// Requests an immediate stop: what is not delivered yet is lost (and reported so).
    pub fn trigger_immediate(&self) {
        self.0.send_replace(NOW);
    }

    /// Whether shutdown was requested through this trigger.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow() >= DRAIN
    }

    /// A new signal watching this trigger.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

/// On the first SIGINT or SIGTERM requests a drain, on the second an immediate stop; a third
/// exits the process (status 130), should the immediate stop itself be stuck.
pub fn trigger_on_signals(trigger: ShutdownTrigger) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::warn!("cannot listen for SIGINT/SIGTERM; stop the process with SIGKILL");
                return;
            };
            for round in 0.. {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                match round {
                    0 => {
                        tracing::info!("{name} received, draining (send it again to stop at once)");
                        trigger.trigger();
                    }
                    1 => {
                        tracing::warn!("{name} received again, stopping at once");
                        trigger.trigger_immediate();
                    }
                    _ => {
                        eprintln!("{name} received a third time, exiting");
                        std::process::exit(130);
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            trigger.trigger();
            let _ = tokio::signal::ctrl_c().await;
            trigger.trigger_immediate();
        }
    })
}
