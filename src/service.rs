//! Task wiring for `run`: IMAP intake, the outbox worker, the schedules (reminders,
//! SCIO status updates) and the directory watcher, stopped together on
//! SIGTERM / Ctrl-C after each finishes the item in hand.

use std::sync::Arc;

use tokio::sync::watch;

use crate::actions::Actions;
use crate::config::Config;
use crate::intake::imap::Poller;
use crate::intake::Pipeline;
use crate::outbound::{Transport, Worker};
use crate::routing::DirectoryHandle;
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
    pub actions: Actions,
    pub directory: DirectoryHandle,
    transport: Transport,
}

impl Service {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let config = Arc::new(config);
        let store = Store::connect(&config.database_url()).await?;
        let transport = Transport::from_config(&config)?;
        let directory = DirectoryHandle::open(config.gateway.directory.clone())?;
        let pipeline = Pipeline::with_directory(store.clone(), config.clone(), directory.clone());
        let actions = Actions::new(store.clone(), pipeline.notifier().clone());
        Ok(Self {
            config,
            store,
            pipeline,
            actions,
            directory,
            transport,
        })
    }

    pub fn worker(&self) -> Worker {
        Worker::new(
            self.store.clone(),
            self.transport.clone(),
            self.config.outbox.clone(),
        )
        .with_guard(self.pipeline.notifier().clone())
    }

    /// Runs until `stop` resolves, then lets every task finish its item in hand.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) {
        let (tx, rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.worker().run(rx.clone()));
        tasks.spawn(schedules(self.pipeline.clone(), rx.clone()));
        tasks.spawn(watch_directory(self.directory.clone(), rx.clone()));
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
            let actions = self.actions.clone();
            tasks.spawn(async move {
                // The review UI failing to bind must not stop intake and sending.
                if let Err(e) = crate::web::serve(store, config, actions, rx).await {
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

/// Once a minute until shutdown: due reminders to reporters, due status updates to
/// SCIO threads.
async fn schedules(pipeline: Pipeline, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = chrono::Utc::now();
        match pipeline.send_reminders(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reminders = n, "reminders queued"),
            Err(e) => tracing::error!(error = %e, "reminders could not be queued; will retry"),
        }
        match pipeline.notifier().periodic(pipeline.store(), now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(updates = n, "periodic SCIO updates queued"),
            Err(e) => {
                tracing::error!(error = %e, "periodic SCIO updates could not be queued; will retry")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Reloads the directory on SIGHUP, and when its file changes (checked every 5 s).
/// A file that fails validation is reported and the previous directory stays in use.
async fn watch_directory(directory: DirectoryHandle, mut shutdown: watch::Receiver<bool>) {
    let Some(path) = directory.path().map(|p| p.display().to_string()) else {
        return;
    };
    #[cfg(unix)]
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; the directory reloads on change only");
            None
        }
    };
    loop {
        if *shutdown.borrow() {
            break;
        }
        #[cfg(unix)]
        let hup_recv = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup_recv = std::future::pending::<()>();
        let result = tokio::select! {
            _ = hup_recv => {
                tracing::info!(%path, "SIGHUP: reloading the directory");
                directory.reload()
            }
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => directory.reload_if_changed(),
            _ = shutdown.changed() => continue,
        };
        match result {
            Ok(Some(n)) => tracing::info!(%path, agencies = n, "directory reloaded"),
            Ok(None) => {}
            Err(e) => tracing::error!(
                error = %e,
                "directory not reloaded; the previous one stays in use until the file is fixed"
            ),
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
