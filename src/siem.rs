//! The SIEM feed: every case event, in sequence order, handed on as one JSON object
//! per line in a file that rotates, and/or as RFC 5424 syslog over TCP (TLS by
//! default, RFC 5425 octet-counted frames) to a collector.
//!
//! The feed reads the event table after each sink's cursor and moves the cursor only
//! once the write succeeded, so it is at least once: the sequence number (`seq`, the
//! event's id; `[meta sequenceId]` in syslog) lets the collector drop a repeat. Intake
//! never waits for it: a collector that is down leaves events in the table, held to
//! one batch in memory, and the feed catches up when it is back.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::config::{FeedStart, Security, SiemConfig};
use crate::store::feed::FeedEvent;
use crate::store::{Store, StoreError};
use crate::tls::TlsSetupError;

/// After a broken connection, what was written on it this recently is sent again: TCP
/// accepted it, but the collector may never have read it.
const RESEND_WINDOW: Duration = Duration::from_secs(30);
/// Longest wait between tries while a sink is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Our name in the syslog APP-NAME field and in the JSON record.
const APP_NAME: &str = "incident-gateway";

#[derive(Debug, thiserror::Error)]
pub enum SiemError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("SIEM file {}: {source} (check that the directory exists and is writable, and the disk has room)", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("syslog collector {addr}: {reason} (check [siem] syslog, that the collector listens, and the firewall)")]
    Connect { addr: String, reason: String },
    #[error("syslog collector {addr}: {reason}")]
    Write { addr: String, reason: String },
    #[error("[siem] {0}")]
    Tls(#[from] TlsSetupError),
}

/// Which sink a feed task serves; also its cursor's name in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    File,
    Syslog,
}

impl SinkKind {
    pub fn name(self) -> &'static str {
        match self {
            SinkKind::File => "file",
            SinkKind::Syslog => "syslog",
        }
    }

    /// The sinks `cfg` asks for.
    pub fn configured(cfg: &SiemConfig) -> Vec<SinkKind> {
        let mut v = Vec::new();
        if cfg.file.is_some() {
            v.push(SinkKind::File);
        }
        if cfg.syslog.is_some() {
            v.push(SinkKind::Syslog);
        }
        v
    }
}

/// The JSON object of one event, as the file holds it and as syslog's MSG carries it.
pub fn record(e: &FeedEvent, host: &str) -> serde_json::Value {
    let mut r = json!({
        "seq": e.seq,
        "at": e.at,
        "case": e.tracking_id,
        "case_id": e.case_id,
        "kind": e.kind,
        "actor": e.actor,
        "message_id": e.message_row_id,
        "outbox_id": e.outbox_id,
        "source": APP_NAME,
        "host": host,
    });
    match serde_json::from_str::<serde_json::Value>(&e.detail) {
        Ok(d) => r["detail"] = d,
        // A stored detail that does not decode still goes out, as text, flagged.
        Err(err) => {
            r["detail_raw"] = json!(e.detail);
            r["detail_error"] = json!(format!("stored detail is not JSON: {err}"));
        }
    }
    r
}

/// JSON with every non-ASCII character escaped (`\uXXXX`), so a syslog MSG is plain
/// ASCII and needs no BOM.
fn ascii_json(v: &serde_json::Value) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// A header field of RFC 5424 (HOSTNAME, APP-NAME, MSGID): printable US-ASCII without
/// spaces, at most `max` characters, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v
    }
}

/// An SD-PARAM value: `"`, `\` and `]` escaped (RFC 5424 section 6.3.3).
fn sd_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Event kinds a SIEM should see above the routine (severity "notice").
fn is_notice(kind: &str) -> bool {
    kind.contains("escalat") || kind.contains("quarantin") || kind == "released_by_analyst"
}

/// How events are written as syslog messages.
#[derive(Debug, Clone)]
pub struct SyslogFormat {
    pub facility: u8,
    pub host: String,
    pub pid: u32,
    /// Longest message (without the frame's length prefix). RFC 5425 receivers must
    /// take 2,048 octets and should take 8,192 (rsyslog's default limit).
    pub max_bytes: usize,
}

impl SyslogFormat {
    /// One event as an RFC 5424 message in an RFC 6587 octet-counted frame
    /// (`LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`). A message
    /// over `max_bytes` goes without its detail (flagged; the file sink and the case
    /// timeline have it whole), so the collector never cuts a record in two.
    pub fn frame(&self, e: &FeedEvent) -> Vec<u8> {
        let severity = if is_notice(&e.kind) { 5 } else { 6 };
        let pri = u32::from(self.facility) * 8 + severity;
        let stamp = crate::store::parse_ts(&e.at)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_else(|| "-".into());
        let header = format!(
            "<{pri}>1 {stamp} {host} {app} {pid} {msgid} [meta sequenceId=\"{seq}\"][origin software=\"{app}\" swVersion=\"{ver}\"][case@igw id=\"{case}\"] ",
            host = header_field(&self.host, 255),
            app = APP_NAME,
            pid = self.pid,
            msgid = header_field(&e.kind, 32),
            seq = e.seq,
            ver = env!("CARGO_PKG_VERSION"),
            case = sd_value(&header_field(&e.tracking_id, 64)),
        );
        let mut record = record(e, &self.host);
        let mut body = ascii_json(&record);
        if header.len() + body.len() > self.max_bytes {
            let size = body.len();
            if let Some(r) = record.as_object_mut() {
                r.remove("detail");
                r.remove("detail_raw");
                r.insert(
                    "detail_omitted".into(),
                    json!(format!("{size} bytes, over [siem] max_message_bytes; the file sink and the case timeline have it")),
                );
            }
            body = ascii_json(&record);
        }
        let msg = header + &body;
        let mut frame = format!("{} ", msg.len()).into_bytes();
        frame.extend_from_slice(msg.as_bytes());
        frame
    }
}

/// This machine's name for the HOSTNAME field.
pub fn machine_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            let n = std::fs::read_to_string(p).ok()?;
            let n = n.trim();
            (!n.is_empty()).then(|| n.to_string())
        })
        .unwrap_or_else(|| "-".into())
}

/// The JSON-lines file: appended, synced after each batch, rotated by size.
pub struct FileSink {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<std::fs::File>,
    size: u64,
}

impl FileSink {
    pub fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Self {
        Self {
            path,
            max_bytes,
            keep,
            file: None,
            size: 0,
        }
    }

    fn err(&self, source: std::io::Error) -> SiemError {
        SiemError::File {
            path: self.path.clone(),
            source,
        }
    }

    /// Opens the file for appending. A last line cut short (the process died while
    /// writing it) is removed first, so every line stays one whole JSON object; the
    /// events on it are written again from the cursor.
    fn open(&mut self) -> Result<(), SiemError> {
        if self.file.is_some() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.err(e))?;
        let len = f.metadata().map_err(|e| self.err(e))?.len();
        let whole = whole_lines_len(&mut f, len).map_err(|e| self.err(e))?;
        if whole < len {
            tracing::warn!(path = %self.path.display(), cut = len - whole, "SIEM file ended in a partial line; removed it");
            f.set_len(whole).map_err(|e| self.err(e))?;
        }
        self.size = whole;
        self.file = Some(f);
        Ok(())
    }

    /// The sequence number of the last whole line in the current file or, when that is
    /// empty, in the newest rotated one.
    pub fn last_seq(&mut self) -> Result<Option<i64>, SiemError> {
        self.open()?;
        let rotated = self.rotated(1);
        for p in [self.path.clone(), rotated] {
            if let Some(seq) = last_seq_in(&p).map_err(|e| self.err(e))? {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// `events.jsonl` becomes `.1`, `.1` becomes `.2` …; the oldest beyond `keep` goes.
    fn rotate(&mut self) -> Result<(), SiemError> {
        self.file = None;
        if self.keep == 0 {
            std::fs::remove_file(&self.path).map_err(|e| self.err(e))?;
        } else {
            let _ = std::fs::remove_file(self.rotated(self.keep));
            for n in (1..self.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1)).map_err(|e| self.err(e))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1)).map_err(|e| self.err(e))?;
        }
        tracing::info!(path = %self.path.display(), "SIEM file rotated");
        self.open()
    }

    /// Appends the events, one line each, and syncs the file.
    pub fn write(&mut self, events: &[FeedEvent], host: &str) -> Result<(), SiemError> {
        self.open()?;
        for e in events {
            let mut line = record(e, host).to_string();
            line.push('\n');
            if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
                self.sync()?;
                self.rotate()?;
            }
            let f = self.file.as_mut().expect("opened above");
            if let Err(e) = f.write_all(line.as_bytes()) {
                // What went out of this line is cut off at the next open.
                self.file = None;
                return Err(self.err(e));
            }
            self.size += line.len() as u64;
        }
        self.sync()
    }

    fn sync(&mut self) -> Result<(), SiemError> {
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.flush().and_then(|()| f.sync_data()) {
                self.file = None;
                return Err(self.err(e));
            }
        }
        Ok(())
    }
}

/// The length of `f` up to and including its last newline.
fn whole_lines_len(f: &mut std::fs::File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The `seq` of the last whole line of the file at `p` (none if absent or empty).
fn last_seq_in(p: &Path) -> std::io::Result<Option<i64>> {
    let mut f = match std::fs::File::open(p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let whole = whole_lines_len(&mut f, len)?;
    if whole == 0 {
        return Ok(None);
    }
    // The last line: read back from its end until the newline before it.
    let start = whole.saturating_sub(1024 * 1024);
    f.seek(SeekFrom::Start(start))?;
    let mut tail = vec![0u8; (whole - start) as usize];
    f.read_exact(&mut tail)?;
    let body = &tail[..tail.len() - 1];
    let line = match body.iter().rposition(|b| *b == b'\n') {
        Some(i) => &body[i + 1..],
        None => body,
    };
    Ok(serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v["seq"].as_i64()))
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The syslog collector connection.
pub struct SyslogSink {
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
    timeout: Duration,
    format: SyslogFormat,
    stream: Option<Box<dyn Stream>>,
    /// First sequence number of each batch written on this connection, and when.
    recent: VecDeque<(i64, Instant)>,
}

impl SyslogSink {
    pub fn new(cfg: &SiemConfig) -> Result<Self, SiemError> {
        let (host, port) = cfg
            .collector()
            .unwrap_or_else(|| Err("no [siem] syslog".into()))
            .map_err(|reason| SiemError::Connect {
                addr: cfg.syslog.clone().unwrap_or_default(),
                reason,
            })?;
        let tls = match cfg.security {
            Security::Tls => Some(crate::tls::connector(cfg.ca_file.as_deref())?),
            _ => None,
        };
        Ok(Self {
            host,
            port,
            tls,
            timeout: Duration::from_secs(cfg.timeout_secs),
            format: SyslogFormat {
                facility: crate::config::syslog_facility(&cfg.facility).unwrap_or(16),
                host: cfg.hostname.clone().unwrap_or_else(machine_name),
                pid: std::process::id(),
                max_bytes: cfg.max_message_bytes,
            },
            stream: None,
            recent: VecDeque::new(),
        })
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    async fn connect(&mut self) -> Result<(), SiemError> {
        let fail = |reason: String| SiemError::Connect {
            addr: format!("{}:{}", self.host, self.port),
            reason,
        };
        let tcp = tokio::time::timeout(
            self.timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| fail(format!("no connection within {} s", self.timeout.as_secs())))?
        .map_err(|e| fail(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = match &self.tls {
            Some(connector) => {
                let name =
                    rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| {
                        fail(format!("'{}' is not a valid server name: {e}", self.host))
                    })?;
                let tls = tokio::time::timeout(self.timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| fail("no TLS handshake within the time limit".into()))?
                    .map_err(|e| {
                        fail(format!(
                            "TLS failed: {} (is it a TLS port? set [siem] ca_file to the CA that signed the collector's certificate)",
                            e
                        ))
                    })?;
                Box::new(tls)
            }
            None => Box::new(tcp),
        };
        self.stream = Some(stream);
        self.recent.clear();
        Ok(())
    }

    /// Whether the collector has closed its side (it never sends anything on a syslog
    /// connection, so a readable socket means end of stream or an error).
    async fn peer_gone(stream: &mut Box<dyn Stream>) -> bool {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await {
            Err(_) => false,
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => false,
        }
    }

    /// Sends the events as one write. On failure the connection is dropped and the
    /// sequence number to resume after is returned with the error: the cursor, or
    /// earlier when batches written on the broken connection may not have been read.
    pub async fn write(&mut self, events: &[FeedEvent]) -> Result<(), (SiemError, Option<i64>)> {
        let Some(first) = events.first().map(|e| e.seq) else {
            return Ok(());
        };
        if let Some(s) = self.stream.as_mut() {
            if Self::peer_gone(s).await {
                let resume = self.resume_point();
                self.stream = None;
                tracing::info!(collector = %self.addr(), "syslog collector closed the connection");
                if let Err(e) = self.connect().await {
                    return Err((e, resume));
                }
            }
        }
        if self.stream.is_none() {
            self.connect().await.map_err(|e| (e, None))?;
        }
        let mut bytes = Vec::new();
        for e in events {
            bytes.extend(self.format.frame(e));
        }
        let timeout = self.timeout;
        let stream = self.stream.as_mut().expect("connected above");
        let sent = tokio::time::timeout(timeout, async {
            stream.write_all(&bytes).await?;
            stream.flush().await
        })
        .await;
        let reason = match sent {
            Ok(Ok(())) => {
                let now = Instant::now();
                self.recent.push_back((first, now));
                while self
                    .recent
                    .front()
                    .is_some_and(|(_, at)| now.duration_since(*at) > RESEND_WINDOW)
                {
                    self.recent.pop_front();
                }
                return Ok(());
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("write not taken within {} s", timeout.as_secs()),
        };
        let resume = self
            .resume_point()
            .map(|r| r.min(first - 1))
            .or(Some(first - 1));
        self.stream = None;
        Err((
            SiemError::Write {
                addr: self.addr(),
                reason,
            },
            resume,
        ))
    }

    /// Where to resume after this connection broke: before the oldest batch written
    /// on it within [`RESEND_WINDOW`].
    fn resume_point(&self) -> Option<i64> {
        let now = Instant::now();
        self.recent
            .iter()
            .find(|(_, at)| now.duration_since(*at) <= RESEND_WINDOW)
            .map(|(seq, _)| seq - 1)
    }
}

/// What `check-config` says of each configured sink: the file can be opened for
/// appending, the collector accepts a connection (TLS included).
pub async fn probe(
    cfg: &SiemConfig,
    data_dir: &Path,
) -> Vec<(SinkKind, Result<String, SiemError>)> {
    let mut out = Vec::new();
    for kind in SinkKind::configured(cfg) {
        let r = match kind {
            SinkKind::File => {
                let mut f = file_sink(cfg, data_dir);
                f.open()
                    .map(|()| format!("appending to {}", f.path.display()))
            }
            SinkKind::Syslog => match SyslogSink::new(cfg) {
                Ok(mut s) => s.connect().await.map(|()| {
                    format!(
                        "{} accepts a connection ({})",
                        s.addr(),
                        if s.tls.is_some() { "TLS" } else { "plain TCP" }
                    )
                }),
                Err(e) => Err(e),
            },
        };
        out.push((kind, r));
    }
    out
}

/// A sink of either kind.
enum Sink {
    /// `None` only while a write runs on the blocking pool (or after one panicked).
    File(Option<FileSink>),
    Syslog(Box<SyslogSink>),
}

fn file_sink(cfg: &SiemConfig, data_dir: &Path) -> FileSink {
    FileSink::new(
        cfg.file_path(data_dir).unwrap_or_default(),
        cfg.file_max_mb.saturating_mul(1024 * 1024),
        cfg.file_keep,
    )
}

impl Sink {
    fn open(kind: SinkKind, cfg: &SiemConfig, data_dir: &Path) -> Result<Sink, SiemError> {
        Ok(match kind {
            SinkKind::File => Sink::File(Some(file_sink(cfg, data_dir))),
            SinkKind::Syslog => Sink::Syslog(Box::new(SyslogSink::new(cfg)?)),
        })
    }

    /// Runs `f` on the file sink on the blocking pool (a fresh sink if the last run
    /// panicked).
    async fn on_file<T: Send + 'static>(
        slot: &mut Option<FileSink>,
        fresh: impl FnOnce() -> FileSink,
        f: impl FnOnce(&mut FileSink) -> Result<T, SiemError> + Send + 'static,
    ) -> Result<T, SiemError> {
        let mut sink = slot.take().unwrap_or_else(fresh);
        let path = sink.path.clone();
        match tokio::task::spawn_blocking(move || {
            let r = f(&mut sink);
            (sink, r)
        })
        .await
        {
            Ok((sink, r)) => {
                *slot = Some(sink);
                r
            }
            Err(e) => Err(SiemError::File {
                path,
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }

    /// The last sequence number the sink itself shows it holds (the file's last line).
    async fn holds_up_to(
        &mut self,
        cfg: &SiemConfig,
        data_dir: &Path,
    ) -> Result<Option<i64>, SiemError> {
        match self {
            Sink::File(slot) => {
                Self::on_file(slot, || file_sink(cfg, data_dir), |f| f.last_seq()).await
            }
            Sink::Syslog(_) => Ok(None),
        }
    }

    async fn write(
        &mut self,
        cfg: &SiemConfig,
        data_dir: &Path,
        events: Vec<FeedEvent>,
        host: &str,
    ) -> Result<(), (SiemError, Option<i64>)> {
        match self {
            Sink::File(slot) => {
                let host = host.to_string();
                Self::on_file(
                    slot,
                    || file_sink(cfg, data_dir),
                    move |f| f.write(&events, &host),
                )
                .await
                .map_err(|e| (e, None))
            }
            Sink::Syslog(s) => s.write(&events).await,
        }
    }
}

/// Waits `d`; true when the service is stopping.
async fn pause(shutdown: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = shutdown.changed() => {}
    }
    *shutdown.borrow()
}

/// Waits `delay`, then doubles it up to [`MAX_BACKOFF`]; true when the service is
/// stopping.
async fn back_off(shutdown: &mut watch::Receiver<bool>, delay: &mut Duration) -> bool {
    let stop = pause(shutdown, *delay).await;
    *delay = (*delay * 2).min(MAX_BACKOFF);
    stop
}

/// Where a sink starts: its stored cursor (for a new sink, the oldest event or the
/// newest, by `[siem] start`), or later if the sink itself holds more.
async fn start_at(
    store: &Store,
    cfg: &SiemConfig,
    data_dir: &Path,
    kind: SinkKind,
    sink: &mut Sink,
) -> Result<i64, SiemError> {
    let stored = match store.feed_cursor(kind.name()).await? {
        Some(c) => c,
        None => match cfg.start {
            FeedStart::Beginning => 0,
            FeedStart::Now => store.last_event_seq().await?,
        },
    };
    Ok(stored.max(sink.holds_up_to(cfg, data_dir).await?.unwrap_or(0)))
}

/// One sink's feed, until the service stops: read the events after the cursor, hand
/// them on, move the cursor; while the sink is down, wait and try again (the events
/// wait in the database).
pub async fn run(
    store: Store,
    cfg: SiemConfig,
    data_dir: PathBuf,
    kind: SinkKind,
    mut shutdown: watch::Receiver<bool>,
) {
    let host = cfg.hostname.clone().unwrap_or_else(machine_name);
    let poll = Duration::from_millis(cfg.poll_interval_ms.max(10));
    let name = kind.name();
    let mut sink = match Sink::open(kind, &cfg, &data_dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(sink = name, error = %e, "SIEM feed cannot start");
            // The supervisor starts it again later.
            let _ = pause(&mut shutdown, MAX_BACKOFF).await;
            return;
        }
    };
    let mut delay = Duration::from_secs(1);
    let mut cursor: Option<i64> = None;
    let mut down_since: Option<Instant> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let at = match cursor {
            Some(c) => c,
            None => match start_at(&store, &cfg, &data_dir, kind, &mut sink).await {
                Ok(c) => {
                    tracing::info!(sink = name, after = c, "SIEM feed started");
                    cursor = Some(c);
                    c
                }
                Err(e) => {
                    tracing::warn!(sink = name, error = %e, "SIEM feed cannot find where it stands; trying again");
                    if back_off(&mut shutdown, &mut delay).await {
                        return;
                    }
                    continue;
                }
            },
        };
        let batch = match store.feed_after(at, cfg.batch).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(sink = name, error = %e, "SIEM feed cannot read events; trying again");
                if back_off(&mut shutdown, &mut delay).await {
                    return;
                }
                continue;
            }
        };
        let Some(last) = batch.last().map(|e| e.seq) else {
            // Idle: an operator's `siem rewind` shows as a stored cursor behind ours.
            if let Ok(Some(stored)) = store.feed_cursor(name).await {
                if stored < at {
                    tracing::info!(sink = name, from = at, to = stored, "SIEM feed rewound");
                    cursor = Some(stored);
                    continue;
                }
            }
            if pause(&mut shutdown, poll).await {
                return;
            }
            continue;
        };
        let count = batch.len();
        match sink.write(&cfg, &data_dir, batch, &host).await {
            Ok(()) => {
                cursor = Some(last);
                if let Err(e) = store.set_feed_cursor(name, last, Utc::now()).await {
                    // Kept in memory; a restart before the next success sends these again.
                    tracing::warn!(sink = name, error = %e, "SIEM cursor not saved");
                }
                if let Some(since) = down_since.take() {
                    tracing::info!(
                        sink = name,
                        down_secs = since.elapsed().as_secs(),
                        "SIEM sink back; catching up from the database"
                    );
                }
                tracing::debug!(sink = name, count, last, "SIEM events handed on");
                delay = Duration::from_secs(1);
            }
            Err((e, resume)) => {
                if down_since.is_none() {
                    tracing::warn!(sink = name, error = %e, "SIEM sink unavailable; events wait in the database and follow when it is back");
                    down_since = Some(Instant::now());
                } else {
                    tracing::debug!(sink = name, error = %e, "SIEM sink still unavailable");
                }
                if let Some(r) = resume {
                    cursor = Some(r.min(at));
                }
                if back_off(&mut shutdown, &mut delay).await {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, kind: &str, detail: &str) -> FeedEvent {
        FeedEvent {
            seq,
            at: "2026-12-01T21:16:09.581Z".into(),
            case_id: 7,
            tracking_id: "SOC-2026-000007".into(),
            actor: "gateway".into(),
            kind: kind.into(),
            detail: detail.into(),
            message_row_id: Some(3),
            outbox_id: None,
        }
    }

    fn format(facility: u8, host: &str, pid: u32) -> SyslogFormat {
        SyslogFormat {
            facility,
            host: host.into(),
            pid,
            max_bytes: 8192,
        }
    }

    fn syslog_frame(e: &FeedEvent, facility: u8, host: &str, pid: u32) -> Vec<u8> {
        format(facility, host, pid).frame(e)
    }

    #[test]
    fn a_record_too_long_for_the_collector_goes_without_its_detail() {
        let big = json!({ "body": "x".repeat(20_000) }).to_string();
        let f = format(16, "h", 1);
        let (len, msg) = unframe(&f.frame(&event(9, "reply_received", &big)));
        assert_eq!(len, msg.len());
        assert!(msg.len() <= 8192, "{}", msg.len());
        let json = body(&msg);
        assert_eq!(json["seq"], 9);
        assert!(json.get("detail").is_none());
        assert!(json["detail_omitted"]
            .as_str()
            .unwrap()
            .contains("max_message_bytes"));
        // Under the limit the detail is there.
        let (_, small) = unframe(&f.frame(&event(9, "reply_received", "{\"a\":1}")));
        assert_eq!(body(&small)["detail"]["a"], 1);
    }

    /// Splits one octet-counted frame into its length and message.
    fn unframe(frame: &[u8]) -> (usize, String) {
        let text = String::from_utf8(frame.to_vec()).unwrap();
        let (len, msg) = text.split_once(' ').unwrap();
        (len.parse().unwrap(), msg.to_string())
    }

    fn body(msg: &str) -> serde_json::Value {
        serde_json::from_str(&msg[msg.find("] {").unwrap() + 2..]).unwrap()
    }

    #[test]
    fn a_syslog_frame_is_rfc5424_with_its_length_and_sequence() {
        let f = syslog_frame(
            &event(42, "case_created", r#"{"subject":"Phish"}"#),
            16,
            "igw1",
            99,
        );
        let (len, msg) = unframe(&f);
        assert_eq!(len, msg.len());
        assert!(
            msg.starts_with("<134>1 2026-12-01T21:16:09.581000Z igw1 incident-gateway 99 case_created [meta sequenceId=\"42\"]"),
            "{msg}"
        );
        assert!(msg.contains("[case@igw id=\"SOC-2026-000007\"] {"), "{msg}");
        let json = body(&msg);
        assert_eq!(json["seq"], 42);
        assert_eq!(json["detail"]["subject"], "Phish");
    }

    #[test]
    fn what_a_reporter_wrote_cannot_break_the_frame_or_the_header() {
        let hostile = "x\r\n<13>1 - - - - - forged] \"q\" caf\u{e9} \u{1F600}";
        let detail = json!({ "subject": hostile }).to_string();
        let f = syslog_frame(&event(1, "reply received\n[x]", &detail), 16, "h o\nst", 1);
        let (len, msg) = unframe(&f);
        assert_eq!(len, msg.len());
        assert!(msg.is_ascii(), "{msg}");
        assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
        // The header fields lost their spaces and control characters.
        assert!(
            msg.starts_with(
                "<134>1 2026-12-01T21:16:09.581000Z host incident-gateway 1 replyreceived[x] "
            ),
            "{msg}"
        );
        assert_eq!(body(&msg)["detail"]["subject"], hostile);
        assert_eq!(sd_value(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
    }

    #[test]
    fn escalations_are_notices() {
        let (_, msg) = unframe(&syslog_frame(
            &event(1, "escalation_queued", "{}"),
            20,
            "h",
            1,
        ));
        assert!(msg.starts_with("<165>1 "), "{msg}");
    }

    #[test]
    fn a_detail_that_does_not_decode_still_goes_out_flagged() {
        let r = record(&event(5, "note", "{not json"), "h");
        assert_eq!(r["detail_raw"], "{not json");
        assert!(r["detail_error"].as_str().unwrap().contains("not JSON"));
    }

    fn lines(p: &Path) -> Vec<i64> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn the_file_rotates_by_size_and_keeps_what_it_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed/events.jsonl");
        let one = record(&event(1, "case_created", "{}"), "h")
            .to_string()
            .len() as u64
            + 1;
        // Three lines per file; two rotated files kept.
        let mut sink = FileSink::new(path.clone(), one * 3 + 2, 2);
        let all: Vec<FeedEvent> = (1..=10).map(|i| event(i, "case_created", "{}")).collect();
        sink.write(&all[..4], "h").unwrap();
        sink.write(&all[4..], "h").unwrap();
        assert_eq!(lines(&path), vec![10]);
        assert_eq!(
            lines(&dir.path().join("feed/events.jsonl.1")),
            vec![7, 8, 9]
        );
        assert_eq!(
            lines(&dir.path().join("feed/events.jsonl.2")),
            vec![4, 5, 6]
        );
        assert!(!dir.path().join("feed/events.jsonl.3").exists());
        assert_eq!(sink.last_seq().unwrap(), Some(10));
    }

    #[test]
    fn a_torn_last_line_is_cut_and_the_last_whole_line_says_where_to_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut sink = FileSink::new(path.clone(), 1 << 20, 3);
        sink.write(&[event(1, "a", "{}"), event(2, "b", "{}")], "h")
            .unwrap();
        drop(sink);
        // The process died while writing the third line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"seq":3,"at":"2026-"#).unwrap();
        drop(f);
        let mut sink = FileSink::new(path.clone(), 1 << 20, 3);
        assert_eq!(sink.last_seq().unwrap(), Some(2));
        sink.write(&[event(3, "c", "{}")], "h").unwrap();
        assert_eq!(lines(&path), vec![1, 2, 3]);
    }

    #[test]
    fn an_empty_current_file_resumes_from_the_rotated_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(dir.path().join("events.jsonl.1"), "{\"seq\":17}\n").unwrap();
        let mut sink = FileSink::new(path, 1 << 20, 3);
        assert_eq!(sink.last_seq().unwrap(), Some(17));
    }
}
