//! The SIEM feed end to end: `run` against the mail stack with `[siem]` set, a
//! syslog collector on loopback (a socket this test holds, reading RFC 6587
//! octet-counted frames), and the JSON-lines file. The collector goes away for a
//! while in the middle; nothing is lost and intake does not wait for it.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::gateway::{report, wait_mail, Gateway, Wire};
use common::mailbox::send_smtp;
use common::stack::MailStack;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpSocket;

/// One frame as the collector read it.
#[derive(Debug, Clone)]
struct Received {
    connection: usize,
    seq: i64,
    message: String,
}

/// A syslog collector: accepts connections and keeps every frame.
struct Collector {
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    /// Listens on `port` (0: any) of 127.0.0.1; `tls` wraps each connection.
    fn start(
        port: u16,
        tls: Option<tokio_rustls::TlsAcceptor>,
        got: Arc<Mutex<Vec<Received>>>,
        first_connection: usize,
    ) -> (Collector, u16) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(format!("127.0.0.1:{port}").parse().unwrap())
            .unwrap();
        let listener = socket.listen(16).unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = got.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            let mut n = first_connection;
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                n += 1;
                let (sink, tls, connection) = (sink.clone(), tls.clone(), n);
                conns.spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(tcp).await {
                                read_frames(s, connection, sink).await
                            }
                        }
                        None => read_frames(tcp, connection, sink).await,
                    }
                });
            }
        });
        (Collector { got, task }, port)
    }

    /// Goes away: the listener and every connection close.
    async fn stop(self) {
        // Ending the accept loop drops the listener and the JoinSet of readers.
        self.task.abort();
        let _ = self.task.await;
    }

    fn seqs(&self) -> Vec<i64> {
        self.got.lock().unwrap().iter().map(|r| r.seq).collect()
    }
}

async fn read_frames(
    mut s: impl AsyncRead + Unpin,
    connection: usize,
    sink: Arc<Mutex<Vec<Received>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        // Every whole frame in the buffer: "LEN SP MSG".
        while let Some(sp) = buf.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..sp])
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("not an octet count: {:?}", &buf[..sp.min(40)]));
            if buf.len() < sp + 1 + len {
                break;
            }
            let message = String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap();
            buf.drain(..sp + 1 + len);
            let seq = sd_seq(&message);
            sink.lock().unwrap().push(Received {
                connection,
                seq,
                message,
            });
        }
    }
}

/// The `[meta sequenceId="N"]` of an RFC 5424 message, checked against its JSON body.
fn sd_seq(message: &str) -> i64 {
    let at = message
        .find("[meta sequenceId=\"")
        .unwrap_or_else(|| panic!("no sequenceId: {message}"));
    let rest = &message[at + 18..];
    let seq: i64 = rest[..rest.find('"').unwrap()].parse().unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&message[message.find("] {").unwrap() + 2..]).unwrap();
    assert_eq!(json["seq"], seq, "{message}");
    seq
}

fn reporter() -> String {
    format!("r-{}@agency.test", uuid::Uuid::new_v4().simple())
}

async fn event_ids(gw: &Gateway) -> Vec<i64> {
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}?mode=ro",
        gw.data_dir().join("gateway.db").display()
    ))
    .await
    .unwrap();
    let ids = sqlx::query_scalar("select id from events order by id")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    ids
}

/// Waits until `seen()` holds every event in the database, and the database has
/// stopped growing for a moment.
async fn wait_all_seen(gw: &Gateway, what: &str, seen: impl Fn() -> BTreeSet<i64>) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Vec::new();
    loop {
        let ids = event_ids(gw).await;
        let got = seen();
        if !ids.is_empty() && ids == last && ids.iter().all(|i| got.contains(i)) {
            return ids;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = ids.iter().filter(|i| !got.contains(i)).collect();
            panic!(
                "{what}: events {missing:?} never arrived; log:\n{}",
                gw.log_text()
            );
        }
        last = ids;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

async fn send_reports(stack: &MailStack, gw: &Gateway, who: &str, n: usize, tag: &str) {
    for i in 0..n {
        let (_, raw) = report(
            who,
            &gw.soc,
            &format!("{tag} phishing report {i}"),
            "A user clicked a link in a phishing email at 9:40 and entered her password.",
        );
        send_smtp(stack, who, &[gw.soc.as_str()], &raw).await;
    }
}

fn file_seqs(gw: &Gateway) -> Vec<i64> {
    let text = std::fs::read_to_string(gw.data_dir().join("siem/events.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(
                v["case"].as_str().is_some_and(|c| c.starts_with("SOC-")),
                "{l}"
            );
            v["seq"].as_i64().unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_the_siem_in_order_even_those_from_while_it_was_down() {
    let stack = MailStack::shared();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (collector, port) = Collector::start(0, None, got.clone(), 0);
    let mut gw = Gateway::new(
        stack,
        Wire::Plain,
        &format!(
            "[siem]\nfile = \"siem/events.jsonl\"\nsyslog = \"127.0.0.1:{port}\"\nsecurity = \"none\"\npoll_interval_ms = 200\nhostname = \"igw-test\"\n"
        ),
    );
    gw.start(&[]);

    // 1. The collector is up: every event of three reports arrives.
    let first = reporter();
    send_reports(stack, &gw, &first, 3, "up").await;
    wait_mail(stack, &gw, &first, 3).await;
    let before = wait_all_seen(&gw, "collector up", || {
        collector.seqs().into_iter().collect()
    })
    .await;

    // 2. It goes away. Intake goes on: three more reports are acknowledged.
    collector.stop().await;
    let second = reporter();
    send_reports(stack, &gw, &second, 3, "down").await;
    wait_mail(stack, &gw, &second, 3).await;
    let during = event_ids(&gw).await;
    assert!(
        during.len() > before.len(),
        "no events while the collector was down"
    );
    // Give the feed time to find the collector gone (and back off).
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 3. It comes back on the same port: the feed catches up from the database.
    let (collector, again) = Collector::start(port, None, got.clone(), 100);
    assert_eq!(again, port);
    let all = wait_all_seen(&gw, "collector back", || {
        collector.seqs().into_iter().collect()
    })
    .await;

    let received = got.lock().unwrap().clone();
    // Events of the outage came over the new connection.
    let missed: Vec<i64> = during
        .iter()
        .filter(|i| !before.contains(i))
        .copied()
        .collect();
    assert!(missed
        .iter()
        .all(|s| received.iter().any(|r| r.seq == *s && r.connection > 100)));
    // In order: on each connection strictly ascending; first sightings ascending
    // (a repeat after a break is allowed, the collector drops it by sequenceId).
    for c in BTreeSet::<usize>::from_iter(received.iter().map(|r| r.connection)) {
        let on: Vec<i64> = received
            .iter()
            .filter(|r| r.connection == c)
            .map(|r| r.seq)
            .collect();
        assert!(on.windows(2).all(|w| w[0] < w[1]), "connection {c}: {on:?}");
    }
    let mut seen = BTreeSet::new();
    let firsts: Vec<i64> = received
        .iter()
        .filter(|r| seen.insert(r.seq))
        .map(|r| r.seq)
        .collect();
    assert_eq!(firsts, all, "first sightings, in order, are every event");
    // What a collector shows of one: RFC 5424 with our names.
    let one = &received[0].message;
    assert!(
        one.starts_with("<13")
            && one.contains(">1 ")
            && one.contains(" igw-test incident-gateway "),
        "{one}"
    );

    // The file has every event exactly once, in order, one JSON object per line.
    let deadline = Instant::now() + Duration::from_secs(30);
    while file_seqs(&gw) != all && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(file_seqs(&gw), all);

    let status = String::from_utf8(gw.cli(&["siem", "status"]).stdout).unwrap();
    let last = all.last().unwrap();
    assert!(
        status.contains(&format!("file    handed on up to {last} (0 waiting)"))
            && status.contains(&format!("syslog  handed on up to {last} (0 waiting)")),
        "{status}"
    );
    assert!(
        gw.log_text().contains("SIEM sink unavailable"),
        "the outage was not logged"
    );
    gw.terminate();
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_collector_is_verified_and_gets_the_events() {
    let stack = MailStack::shared();
    let tls_dir = stack.ca_cert.parent().unwrap().to_path_buf();
    let acceptor = tls_acceptor(&tls_dir);
    let got = Arc::new(Mutex::new(Vec::new()));
    let (collector, port) = Collector::start(0, Some(acceptor), got.clone(), 0);
    let mut gw = Gateway::new(
        stack,
        Wire::Plain,
        &format!(
            "[siem]\nsyslog = \"localhost:{port}\"\nca_file = \"{}\"\npoll_interval_ms = 200\n",
            stack.ca_cert.display()
        ),
    );
    let check = gw.cli(&["check-config"]);
    let text = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(
        text.contains(&format!(
            "siem      ok    syslog: localhost:{port} accepts a connection (TLS)"
        )),
        "{text}"
    );
    gw.start(&[]);
    let who = reporter();
    send_reports(stack, &gw, &who, 1, "tls").await;
    wait_mail(stack, &gw, &who, 1).await;
    wait_all_seen(&gw, "over TLS", || collector.seqs().into_iter().collect()).await;
    gw.terminate();
    collector.stop().await;

    // A collector whose certificate our CA did not sign is refused, and check-config says so.
    let other = Gateway::new(
        stack,
        Wire::Plain,
        &format!("[siem]\nsyslog = \"localhost:{port}\"\n"),
    );
    let (collector, _) = Collector::start(port, Some(tls_acceptor(&tls_dir)), got, 50);
    let out = other.try_cli(&["check-config"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("siem      FAIL  syslog:") && text.contains("ca_file"),
        "{text}"
    );
    collector.stop().await;
}

/// A collector with the stack's server certificate (signed by the stack's CA).
fn tls_acceptor(tls_dir: &std::path::Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(tls_dir.join("cert.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(tls_dir.join("key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// Debian's rsyslogd, installed by scripts/install-test-deps.sh; absent outside CI
/// means skip, under `CI=true` a failure.
fn rsyslogd() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from("/usr/sbin/rsyslogd");
    if p.is_file() {
        return Some(p);
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "rsyslogd is missing; under CI=true it is required (scripts/install-test-deps.sh installs it)"
    );
    eprintln!("SKIP: no /usr/sbin/rsyslogd (run scripts/install-test-deps.sh)");
    None
}

/// rsyslogd in the foreground on loopback, stopped when dropped.
struct Rsyslog {
    child: std::process::Child,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_rsyslog(bin: &std::path::Path) -> (Rsyslog, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = dir.path().join("out.log");
    // One line per message with the fields as rsyslog's RFC 5424 parser read them.
    let conf = format!(
        r#"global(workDirectory="{d}")
module(load="imtcp")
input(type="imtcp" port="{port}" address="127.0.0.1")
template(name="fields" type="string" string="pri=%pri% host=%hostname% app=%app-name% msgid=%msgid% sd=%structured-data% msg=%msg%\n")
*.* action(type="omfile" file="{out}" template="fields")
"#,
        d = dir.path().display(),
        out = out.display()
    );
    let conf_path = dir.path().join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = std::process::Command::new(bin)
        .arg("-n")
        .arg("-f")
        .arg(&conf_path)
        .arg("-i")
        .arg(dir.path().join("pid"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start rsyslogd");
    let r = Rsyslog {
        child,
        out,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "rsyslogd did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (r, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_reads_every_record_with_its_fields() {
    let Some(bin) = rsyslogd() else {
        return;
    };
    let stack = MailStack::shared();
    let (rsyslog, port) = start_rsyslog(&bin);
    let mut gw = Gateway::new(
        stack,
        Wire::Plain,
        &format!(
            "[siem]\nsyslog = \"127.0.0.1:{port}\"\nsecurity = \"none\"\npoll_interval_ms = 200\nhostname = \"igw-test\"\n"
        ),
    );
    gw.start(&[]);
    let who = reporter();
    send_reports(stack, &gw, &who, 2, "rsyslog").await;
    wait_mail(stack, &gw, &who, 2).await;
    let read = || -> Vec<(i64, String, serde_json::Value, String)> {
        std::fs::read_to_string(&rsyslog.out)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let field = |name: &str| {
                    let at = l
                        .find(&format!("{name}="))
                        .unwrap_or_else(|| panic!("{name}: {l}"));
                    l[at + name.len() + 1..]
                        .split(' ')
                        .next()
                        .unwrap()
                        .to_string()
                };
                let sd = &l[l.find("sd=").unwrap()..l.find(" msg=").unwrap()];
                let seq: i64 = sd[sd.find("sequenceId=\"").unwrap() + 12..]
                    .split('"')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                let json: serde_json::Value =
                    serde_json::from_str(l[l.find(" msg=").unwrap() + 5..].trim())
                        .unwrap_or_else(|e| panic!("MSG is not JSON ({e}): {l}"));
                assert_eq!(json["seq"], seq, "{l}");
                assert_eq!(field("host"), "igw-test", "{l}");
                assert_eq!(field("app"), "incident-gateway", "{l}");
                assert!(["133", "134"].contains(&field("pri").as_str()), "{l}");
                (seq, field("msgid"), json, l.to_string())
            })
            .collect()
    };
    let ids = wait_all_seen(&gw, "rsyslog", || read().iter().map(|r| r.0).collect()).await;
    let got = read();
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), ids);
    for (_, msgid, json, line) in &got {
        assert_eq!(json["kind"].as_str(), Some(msgid.as_str()), "{line}");
        assert!(json["case"].as_str().unwrap().starts_with("SOC-"), "{line}");
    }
    gw.terminate();
}
