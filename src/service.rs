//! Task wiring for `run`: IMAP intake and the outbox worker, stopped together on
//! SIGTERM / Ctrl-C after each finishes the item in hand.

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;
use crate::intake::imap::Poller;
use crate::intake::Pipeline;
use crate::outbound::{Transport, Worker};
use crate::store::Store;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Transport(#[from] crate::outbound::worker::TransportError),
    #[error(transparent)]
    Directory(#[from] crate::routing::DirectoryError),
}

/// The running gateway.
pub struct Service {
    pub config: Arc<Config>,
    pub store: Store,
    pub pipeline: Pipeline,
    transport: Transport,
}

impl Service {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let config = Arc::new(config);
        let store = Store::connect(&config.database_url()).await?;
        let transport = Transport::from_config(&config)?;
        let pipeline = Pipeline::new(store.clone(), config.clone())?;
        Ok(Self {
            config,
            store,
            pipeline,
            transport,
        })
    }

    pub fn worker(&self) -> Worker {
        Worker::new(
            self.store.clone(),
            self.transport.clone(),
            self.config.outbox.clone(),
        )
    }

    /// Runs until `stop` resolves, then lets every task finish its item in hand.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) {
        let (tx, rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.worker().run(rx.clone()));
        tasks.spawn(reminders(self.pipeline.clone(), rx.clone()));
        match &self.config.imap {
            Some(imap) => {
                tasks.spawn(Poller::new(self.pipeline.clone(), imap.clone()).run(rx.clone()));
            }
            None => tracing::warn!(
                "no [imap] section: intake only through `ingest`; the outbox worker runs"
            ),
        }
        {
            let (store, config, rx) = (self.store.clone(), self.config.clone(), rx.clone());
            tasks.spawn(async move {
                // The review UI failing to bind must not stop intake and sending.
                if let Err(e) = crate::web::serve(store, config, rx).await {
                    tracing::error!(error = %e, "review web UI not available");
                }
            });
        }
        stop.await;
        tracing::info!("shutdown requested; finishing work in hand");
        let _ = tx.send(true);
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "a task ended abnormally");
            }
        }
    }
}

/// Queues due reminders once a minute until shutdown.
async fn reminders(pipeline: Pipeline, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        match pipeline.send_reminders(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reminders = n, "reminders queued"),
            Err(e) => tracing::error!(error = %e, "reminders could not be queued; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
