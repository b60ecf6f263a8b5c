//! Task wiring for `run`: IMAP intake, the outbox worker, the schedules (reminders,
//! SCIO status updates), the directory watcher and the SIEM feed, stopped together on
//! SIGTERM / Ctrl-C after each finishes the item in hand.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::actions::Actions;
use crate::config::Config;
use crate::health::Health;
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

/// The gateway wired together once: the store, the directory, intake, analyst actions
/// and the outbound transport. `run`, `demo`, the CLI's one-shot commands, the tests
/// and the benches all build it the same way.
pub struct Application {
    pub config: Arc<Config>,
    pub store: Store,
    pub pipeline: Pipeline,
    pub actions: Actions,
    pub directory: DirectoryHandle,
    transport: Transport,
}

impl Application {
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

    /// The review UI's state over this application's store and actions.
    pub fn web_state(&self) -> crate::web::AppState {
        crate::web::AppState::with_actions(
            self.store.clone(),
            self.config.clone(),
            self.actions.clone(),
        )
    }

    /// The trends reports over this application's store and directory.
    pub fn reporter(&self) -> crate::reports::Reporter {
        crate::reports::Reporter::new(
            self.store.clone(),
            self.config.clone(),
            self.directory.clone(),
        )
    }

    pub fn worker(&self) -> Worker {
        Worker::new(
            self.store.clone(),
            self.transport.clone(),
            self.config.outbox.clone(),
        )
        .with_guard(self.pipeline.notifier().disclosure().clone())
        .with_webhook(self.config.soc.webhook_url.clone().map(|url| {
            crate::outbound::worker::Webhook {
                url,
                ca_file: self.config.soc.webhook_ca_file.clone(),
            }
        }))
        .holding_in_doubt(
            self.config
                .imap
                .as_ref()
                .is_some_and(|i| i.sent_mailbox.is_some()),
        )
    }

    /// Runs until `stop` resolves, then lets every task finish its item in hand. Each
    /// task is supervised: one that ends or panics while the service runs is logged,
    /// shown in `/healthz` and `/metrics`, and started again with back-off.
    pub async fn run_until_stopped(self, stop: impl std::future::Future<Output = ()>) {
        let (tx, rx) = watch::channel(false);
        let health = Health::default();
        let this = Arc::new(self);
        let mut tasks = tokio::task::JoinSet::new();
        let sup = Supervisor {
            health: health.clone(),
            shutdown: rx.clone(),
        };
        {
            let (this, rx) = (this.clone(), rx.clone());
            sup.spawn(&mut tasks, "outbox", move || {
                let (worker, rx) = (this.worker(), rx.clone());
                async move {
                    failpoint_panic_once("outbox");
                    worker.run(rx).await
                }
            });
        }
        {
            let (pipeline, reporter, rx) = (this.pipeline.clone(), this.reporter(), rx.clone());
            sup.spawn(&mut tasks, "schedules", move || {
                schedules(pipeline.clone(), reporter.clone(), rx.clone())
            });
        }
        if let Some(siem) = &this.config.siem {
            for kind in crate::siem::SinkKind::configured(siem) {
                let (store, siem, rx) = (this.store.clone(), siem.clone(), rx.clone());
                let data_dir = this.config.gateway.data_dir.clone();
                let name = match kind {
                    crate::siem::SinkKind::File => "siem-file",
                    crate::siem::SinkKind::Syslog => "siem-syslog",
                };
                sup.spawn(&mut tasks, name, move || {
                    crate::siem::run(
                        store.clone(),
                        siem.clone(),
                        data_dir.clone(),
                        kind,
                        rx.clone(),
                    )
                });
            }
        }
        // Without a directory file there is nothing to watch.
        if this.directory.path().is_some() {
            let (directory, rx) = (this.directory.clone(), rx.clone());
            sup.spawn(&mut tasks, "directory", move || {
                watch_directory(directory.clone(), rx.clone())
            });
        }
        match &this.config.imap {
            Some(imap) => {
                let (pipeline, imap, rx) = (this.pipeline.clone(), imap.clone(), rx.clone());
                sup.spawn(&mut tasks, "imap", move || {
                    Poller::new(pipeline.clone(), imap.clone()).run(rx.clone())
                });
            }
            None => tracing::warn!(
                "no [imap] section: intake only through `ingest`; the outbox worker runs"
            ),
        }
        {
            let (this, health, rx) = (this.clone(), health.clone(), rx.clone());
            sup.spawn(&mut tasks, "web", move || {
                let (store, config, actions) = (
                    this.store.clone(),
                    this.config.clone(),
                    this.actions.clone(),
                );
                let (health, rx) = (health.clone(), rx.clone());
                async move {
                    // The review UI failing to bind must not stop intake and sending;
                    // the supervisor tries again later.
                    if let Err(e) = crate::web::serve(store, config, actions, health, rx).await {
                        tracing::error!(error = %e, "review web UI not available");
                    }
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

/// Test hook: with `IGW_FAILPOINT=panic-once:<task>` that task panics once, as it
/// starts, so tests can see the supervisor start it again.
fn failpoint_panic_once(task: &str) {
    static FIRED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if std::env::var("IGW_FAILPOINT").is_ok_and(|v| v == format!("panic-once:{task}"))
        && !FIRED.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        panic!("IGW_FAILPOINT panic-once:{task} reached");
    }
}

/// Starts tasks and starts them again when they end or panic before shutdown.
struct Supervisor {
    health: Health,
    shutdown: watch::Receiver<bool>,
}

impl Supervisor {
    fn spawn<F, Fut>(&self, set: &mut tokio::task::JoinSet<()>, name: &'static str, make: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (health, mut shutdown) = (self.health.clone(), self.shutdown.clone());
        set.spawn(async move {
            let mut delay = Duration::from_secs(1);
            loop {
                health.running(name);
                let started = tokio::time::Instant::now();
                // Its own task, so a panic ends it and not the supervisor.
                let ended = tokio::spawn(make()).await;
                if *shutdown.borrow() {
                    health.stopped(name);
                    return;
                }
                let why = match ended {
                    Ok(()) => "it ended on its own".to_string(),
                    Err(e) if e.is_panic() => {
                        let p = e.into_panic();
                        let msg = p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a panic".into());
                        format!("it panicked: {msg}")
                    }
                    Err(e) => format!("it was cancelled: {e}"),
                };
                if started.elapsed() > Duration::from_secs(60) {
                    delay = Duration::from_secs(1);
                }
                tracing::error!(task = name, reason = %why, restart_in_s = delay.as_secs(), "task stopped unexpectedly; restarting it");
                health.restarting(name, why);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    health.stopped(name);
                    return;
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        });
    }
}

/// Once a minute until shutdown: due reminders to reporters, due status updates to
/// SCIO threads, the SOC's overdue notices, the trends reports of periods just over.
async fn schedules(
    pipeline: Pipeline,
    reporter: crate::reports::Reporter,
    mut shutdown: watch::Receiver<bool>,
) {
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
        // After the updates: an update clock still run out is one that could not be queued.
        match pipeline.notifier().soc_overdue(pipeline.store(), now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(notices = n, "overdue notices to the SOC queued"),
            Err(e) => {
                tracing::error!(error = %e, "overdue notices to the SOC could not be queued; will retry")
            }
        }
        match reporter.send_due(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reports = n, "trends reports queued"),
            Err(e) => tracing::error!(error = %e, "trends reports could not be queued; will retry"),
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
