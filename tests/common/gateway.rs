//! Runs the real `incident-gateway` binary against a test mail stack.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::stack::MailStack;

/// How the gateway reaches the servers in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// IMAP and SMTP without TLS.
    Plain,
    /// IMAPS (implicit TLS) and SMTP STARTTLS, trusting the stack's CA.
    Tls,
}

/// A gateway process with its own data directory, database and SOC mailbox.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// The SOC mailbox address (also the IMAP login).
    pub soc: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Gateway {
    /// Writes a config for `stack`; `extra` is appended as raw TOML.
    pub fn new(stack: &MailStack, wire: Wire, extra: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("gateway tempdir");
        let soc = format!("soc-{}@mass.gov", uuid::Uuid::new_v4().simple());
        let (imap_port, imap_sec, smtp_sec) = match wire {
            Wire::Plain => (stack.imap_port, "none", "none"),
            Wire::Tls => (stack.imaps_port, "tls", "starttls"),
        };
        let ca = stack.ca_cert.display();
        let text = format!(
            r#"[gateway]
address = "{soc}"
data_dir = "{data}"
allowed_domains = ["agency.test", "mass.gov", "state.ma.us"]

[imap]
host = "127.0.0.1"
port = {imap_port}
security = "{imap_sec}"
username = "{soc}"
password = "{password}"
ca_file = "{ca}"
idle_renew_secs = 60
reconnect_max_secs = 2
sent_mailbox = "Sent"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "{smtp_sec}"
ca_file = "{ca}"
timeout_secs = 10

[outbox]
retry_base_secs = 1
retry_max_secs = 2
poll_interval_ms = 100

{extra}
"#,
            data = dir.path().display(),
            password = stack.password,
            smtp_port = stack.smtp_port,
        );
        let config = dir.path().join("gateway.toml");
        std::fs::write(&config, text).expect("write gateway config");
        let log = dir.path().join("gateway.log");
        Gateway {
            dir,
            config,
            soc,
            log,
            child: None,
        }
    }

    /// Starts `incident-gateway run` with extra environment variables.
    pub fn start(&mut self, env: &[(&str, &str)]) {
        assert!(self.child.is_none(), "gateway already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open gateway log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_incident-gateway"));
        cmd.args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info,sqlx=warn")
            .env_remove("IGW_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn incident-gateway run"));
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; panics with the log on timeout.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log_text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "gateway log never showed {needle:?} within {timeout:?}:\n{}",
            self.log_text()
        );
    }

    /// SIGTERM, then waits for the exit status (panics if it takes over 15 s).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("gateway not running");
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait gateway") {
                return status;
            }
            if start.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                panic!(
                    "gateway did not stop within 15 s of SIGTERM:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` for the gateway to exit by itself; its status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().expect("wait gateway") {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The running gateway's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL: no cleanup at all, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal to the running gateway (SIGHUP: reload the directory).
    pub fn signal(&self, sig: i32) {
        let child = self.child.as_ref().expect("gateway not running");
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
    }

    /// Runs another subcommand and returns its output whatever the exit status.
    pub fn try_cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_incident-gateway"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run incident-gateway")
    }

    /// Adds `key = value` lines to the `[gateway]` section of the config.
    pub fn set_gateway_keys(&self, lines: &str) {
        let text = std::fs::read_to_string(&self.config).expect("read gateway config");
        let text = text.replacen("[gateway]\n", &format!("[gateway]\n{lines}\n"), 1);
        std::fs::write(&self.config, text).expect("write gateway config");
    }

    /// Switches IMAP (with `mechanism`) and SMTP (the stack's submission port, which
    /// requires AUTH) to `auth = "oauth2"` as the SOC mailbox, with `oauth2` as the
    /// `[oauth2]` section. For a gateway made with [`Wire::Tls`] on an OAuth2 stack.
    pub fn use_oauth2(&self, stack: &MailStack, mechanism: &str, oauth2: &str) {
        let text = std::fs::read_to_string(&self.config).expect("read gateway config");
        let password = format!("password = \"{}\"\n", stack.password);
        let smtp = format!("port = {}\nsecurity = \"starttls\"\n", stack.smtp_port);
        assert!(text.contains(&password) && text.contains(&smtp), "{text}");
        let text = text
            .replacen(
                &password,
                &format!("auth = \"oauth2\"\nsasl_mechanism = \"{mechanism}\"\n"),
                1,
            )
            .replacen(
                &smtp,
                &format!(
                    "port = {}\nsecurity = \"starttls\"\nauth = \"oauth2\"\nusername = \"{}\"\n",
                    stack.submission_port, self.soc
                ),
                1,
            );
        std::fs::write(&self.config, format!("{text}\n[oauth2]\n{oauth2}\n"))
            .expect("write gateway config");
    }

    /// Runs another subcommand against the same configuration.
    pub fn cli(&self, args: &[&str]) -> Output {
        let out = self.try_cli(args);
        assert!(
            out.status.success(),
            "incident-gateway {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    pub fn cases(&self) -> Vec<serde_json::Value> {
        self.cli_json(&["cases", "list", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn outbox(&self) -> Vec<serde_json::Value> {
        self.cli_json(&["outbound", "list", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` until it returns `Some`, every 50 ms; panics with `what` on timeout.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `n` messages in `who`'s INBOX; on timeout the panic carries the gateway's log.
pub async fn wait_mail(stack: &MailStack, gw: &Gateway, who: &str, n: usize) -> Vec<Vec<u8>> {
    match super::mailbox::try_wait_for_count(stack, who, "INBOX", n, Duration::from_secs(30)).await
    {
        Ok(m) => m,
        Err(seen) => panic!(
            "{who}: {seen} message(s), wanted {n}; gateway log:\n{}",
            gw.log_text()
        ),
    }
}

/// A simple incident report as raw bytes.
pub fn report(from: &str, to: &str, subject: &str, body: &str) -> (String, Vec<u8>) {
    let mid = format!("{}@agency.test", uuid::Uuid::new_v4().simple());
    let raw = format!(
        "From: Test Reporter <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\nDate: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        date = chrono::Utc::now().to_rfc2822(),
    );
    (mid, raw.into_bytes())
}
