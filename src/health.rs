//! What each long-running task of `run` is doing (IMAP intake, outbox worker,
//! schedules, directory watcher, web UI), for `/healthz`, `/metrics` and the log. The
//! service's supervisor writes it; the web layer reads it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Running,
    /// It stopped unexpectedly and waits to be started again.
    Restarting,
    /// It ended because the service is stopping.
    Stopped,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Restarting => "restarting",
            TaskState::Stopped => "stopped",
        }
    }
}

/// One task's record.
#[derive(Debug, Clone)]
pub struct TaskHealth {
    pub state: TaskState,
    /// Times it stopped unexpectedly and was started again.
    pub restarts: u64,
    pub last_error: Option<String>,
    pub since: DateTime<Utc>,
}

/// The registry shared by the supervisor and the web layer. Empty outside `run`.
#[derive(Debug, Clone, Default)]
pub struct Health {
    tasks: Arc<Mutex<BTreeMap<&'static str, TaskHealth>>>,
}

impl Health {
    fn update(&self, task: &'static str, f: impl FnOnce(&mut TaskHealth)) {
        // A poisoned lock only means a reader panicked; the map is still usable.
        let mut map = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(task).or_insert_with(|| TaskHealth {
            state: TaskState::Running,
            restarts: 0,
            last_error: None,
            since: Utc::now(),
        });
        f(entry);
    }

    pub fn running(&self, task: &'static str) {
        self.update(task, |t| {
            t.state = TaskState::Running;
            t.since = Utc::now();
        });
    }

    pub fn restarting(&self, task: &'static str, error: String) {
        self.update(task, |t| {
            t.state = TaskState::Restarting;
            t.restarts += 1;
            t.last_error = Some(error);
            t.since = Utc::now();
        });
    }

    pub fn stopped(&self, task: &'static str) {
        self.update(task, |t| {
            t.state = TaskState::Stopped;
            t.since = Utc::now();
        });
    }

    /// Every task, by name.
    pub fn snapshot(&self) -> Vec<(&'static str, TaskHealth)> {
        let map = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (*k, v.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_are_counted_and_states_kept() {
        let h = Health::default();
        h.running("outbox");
        h.restarting("outbox", "panicked: boom".into());
        h.running("outbox");
        h.running("imap");
        let s = h.snapshot();
        assert_eq!(s.len(), 2);
        let (name, outbox) = &s[1];
        assert_eq!(*name, "outbox");
        assert_eq!(outbox.state, TaskState::Running);
        assert_eq!(outbox.restarts, 1);
        assert_eq!(outbox.last_error.as_deref(), Some("panicked: boom"));
    }
}
