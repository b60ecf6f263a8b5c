//! Sending under faults (issue 10): a server that accepts the connection and never
//! answers, a queue released by the first success after an outage, the demo that
//! never sends, a closed output pipe, and error messages that say what to do.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::gateway::{report, wait_mail, Gateway, Wire};
use common::mailbox::{append, fetch_all};
use common::stack::MailStack;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_incident-gateway"));
    c.env_remove("IGW_CONFIG").env("RUST_LOG", "warn");
    c
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("gateway.toml");
    let text = format!(
        "[gateway]\ndata_dir = \"{}\"\nallowed_domains = [\"agency.test\"]\n\n[web]\nlisten = \"127.0.0.1:0\"\n\n{extra}",
        dir.display()
    );
    std::fs::write(&p, text).expect("write config");
    p
}

fn cli(config: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run incident-gateway")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Queues one acknowledgement by storing a report through `ingest`.
fn queue_ack(config: &Path, from: &str) {
    let raw = format!(
        "From: Reporter <{from}>\r\nTo: soc@mass.gov\r\nSubject: Phishing report\r\nMessage-ID: <{}@agency.test>\r\nDate: Tue, 10 Mar 2026 09:45:00 -0400\r\n\r\nA user clicked a link.\r\n",
        uuid::Uuid::new_v4().simple()
    );
    let file = config.with_file_name(format!("report-{from}.eml"));
    std::fs::write(&file, raw).expect("write report");
    let out = bin()
        .args(["ingest", "--config"])
        .arg(config)
        .stdin(std::fs::File::open(&file).expect("open report"))
        .output()
        .expect("run ingest");
    assert!(out.status.success(), "ingest: {}", text(&out));
}

/// A dead peer: accepts every connection and holds it without a word.
fn dead_peer() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind dead peer");
    let port = listener.local_addr().expect("addr").port();
    let h = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    (port, h)
}

/// A port with nothing listening on it.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn a_server_that_never_answers_stops_flush_and_check_config_within_the_timeout() {
    let (port, _peer) = dead_peer();
    for security in ["none", "starttls"] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &format!(
                "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"{security}\"\ntimeout_secs = 3\n"
            ),
        );
        queue_ack(&config, "a@agency.test");
        queue_ack(&config, "b@agency.test");

        let start = Instant::now();
        let out = cli(&config, &["outbound", "flush"]);
        let took = start.elapsed();
        // The budget: the timeout plus a few seconds (not 3 s per message, not forever).
        assert!(
            took < Duration::from_secs(3 + 10),
            "{security}: flush took {took:?}"
        );
        assert_eq!(out.status.code(), Some(75), "{security}: {}", text(&out));
        let t = text(&out);
        assert!(
            t.contains("did not answer") || t.contains("no greeting within 3 s"),
            "{security}: {t}"
        );

        let start = Instant::now();
        let out = cli(&config, &["check-config"]);
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(3 + 10),
            "{security}: check-config took {took:?}"
        );
        assert!(!out.status.success());
        let t = text(&out);
        assert!(t.contains("smtp      FAIL"), "{security}: {t}");
    }
}

#[test]
fn run_logs_a_hung_server_and_sigterm_ends_a_send_in_hand() {
    let (port, _peer) = dead_peer();
    let dir = tempfile::tempdir().unwrap();
    // A long step limit: SIGTERM arrives while the send is still waiting for the server.
    let config = write_config(
        dir.path(),
        &format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"starttls\"\ntimeout_secs = 120\n"),
    );
    queue_ack(&config, "a@agency.test");
    let log = dir.path().join("run.log");
    let spawn_run = |config: &Path| {
        let f = std::fs::File::create(&log).expect("log");
        bin()
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(f.try_clone().expect("dup"))
            .stderr(f)
            .spawn()
            .expect("spawn run")
    };
    let mut child = spawn_run(&config);
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!(
                "run did not stop within 10 s of SIGTERM:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let l = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{l}");
    assert!(l.contains("abandoned"), "{l}");

    // With a short limit, run notices the dead server by itself and logs it.
    let config = write_config(
        dir.path(),
        &format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"starttls\"\ntimeout_secs = 2\n"),
    );
    let mut child = spawn_run(&config);
    let start = Instant::now();
    let l = loop {
        let l = std::fs::read_to_string(&log).unwrap_or_default();
        if l.contains("outbound mail deferred") || start.elapsed() > Duration::from_secs(150) {
            break l;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert!(
        l.contains("outbound mail deferred") && l.contains("no greeting within 2 s"),
        "{l}"
    );
}

#[test]
fn a_refused_connection_is_reported_once_not_three_times() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let config = write_config(
        dir.path(),
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout_secs = 3\n"
        ),
    );
    queue_ack(&config, "a@agency.test");
    let out = cli(&config, &["check-config"]);
    let t = text(&out);
    assert_eq!(t.matches("refused").count(), 1, "{t}");
    cli(&config, &["outbound", "flush"]);
    let rows: serde_json::Value =
        serde_json::from_slice(&cli(&config, &["outbound", "list", "--json"]).stdout)
            .expect("json");
    let err = rows[0]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(err.matches("refused").count(), 1, "{err}");
}

#[test]
fn a_closed_output_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    for args in [&["cases", "list"][..], &["outbound", "list"][..]] {
        let mut child = bin()
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // The reader goes away before the command prints (`| true`).
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.trim().is_empty(), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_writes_files_and_sends_nothing_even_with_smtp_configured() {
    let stack = MailStack::shared();
    let gw = Gateway::new(stack, Wire::Plain, "");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let out = bin()
        .arg("demo")
        .arg("--fixtures")
        .arg(&fixtures)
        .env("IGW_CONFIG", &gw.config)
        // As if run straight from the build directory, not under cargo.
        .env_remove("CARGO")
        .output()
        .expect("run demo");
    assert!(out.status.success(), "{}", text(&out));
    let eml = std::fs::read_dir(gw.data_dir().join("outbox"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0);
    assert!(eml > 0, "no .eml files written: {}", text(&out));
    // Run from cargo's build directory, the hint is a command that works from there.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Look closer: cargo run -- case show"),
        "{}",
        text(&out)
    );
    // Give a delivery, had there been one, time to land; then the fixtures' people
    // (mass.gov is a domain of the stack) have nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for who in [
        "lauren.abernathy@mass.gov",
        "claire.brennan@mass.gov",
        "sean.fitzgerald@mass.gov",
    ] {
        assert!(
            fetch_all(stack, who, "INBOX").await.is_empty(),
            "{who} got mail from the demo"
        );
    }
    let log = std::fs::read_to_string(stack.base.join("log/postfix.log")).unwrap_or_default();
    assert!(
        !log.contains("lauren.abernathy@mass.gov"),
        "Postfix saw demo mail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_the_first_success_releases_the_whole_queue() {
    // Its own stack: this test stops Postfix.
    let stack = MailStack::start();
    let mut gw = Gateway::new(&stack, Wire::Plain, "");
    stack.stop_postfix();
    // A back-off far longer than the test: only the release can send the early ones.
    gw.start(&[
        ("IGW_OUTBOX__RETRY_BASE_SECS", "600"),
        ("IGW_OUTBOX__RETRY_MAX_SECS", "900"),
    ]);
    let early: Vec<String> = (0..3)
        .map(|i| format!("early{i}-{}@agency.test", uuid::Uuid::new_v4().simple()))
        .collect();
    for (i, who) in early.iter().enumerate() {
        let (_, raw) = report(who, &gw.soc, &format!("Outage report {i}"), "Phishing.");
        append(&stack, &gw.soc, "INBOX", &raw).await;
    }
    // Each was tried once and deferred for 600 s.
    common::gateway::wait_until(
        "three deferred acknowledgements",
        Duration::from_secs(60),
        || {
            let rows = gw.outbox();
            (rows.len() == 3
                && rows
                    .iter()
                    .all(|r| r["status"] == "pending" && r["attempts"].as_i64() == Some(1)))
            .then_some(())
        },
    );
    stack.start_postfix();
    // A new report is due at once; its acknowledgement is the first success.
    let late = format!("late-{}@agency.test", uuid::Uuid::new_v4().simple());
    let (_, raw) = report(&late, &gw.soc, "After the outage", "Phishing.");
    append(&stack, &gw.soc, "INBOX", &raw).await;
    wait_mail(&stack, &gw, &late, 1).await;
    for who in &early {
        let acks = wait_mail(&stack, &gw, who, 1).await;
        assert_eq!(acks.len(), 1, "{who}");
    }
    assert!(gw
        .log_text()
        .contains("deferred while it was unreachable are due now"));
    assert!(gw.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_text_to_a_tls_port_says_so() {
    let stack = MailStack::shared();
    // Dovecot's IMAPS port speaks TLS from the first byte; `none` and `starttls` both
    // wait for a plain greeting that never comes.
    for security in ["none", "starttls"] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &format!(
                "[smtp]\nhost = \"127.0.0.1\"\nport = {tls}\nsecurity = \"{security}\"\ntimeout_secs = 20\nca_file = \"{ca}\"\n\n[imap]\nhost = \"127.0.0.1\"\nport = {tls}\nsecurity = \"{security}\"\nusername = \"u\"\npassword = \"p\"\nca_file = \"{ca}\"\n",
                tls = stack.imaps_port,
                ca = stack.ca_cert.display()
            ),
        );
        let start = Instant::now();
        let out = cli(&config, &["check-config"]);
        let t = text(&out);
        assert!(!out.status.success(), "{t}");
        let lines: Vec<&str> = t.lines().filter(|l| l.contains("FAIL")).collect();
        for section in ["smtp", "imap"] {
            assert!(
                lines.iter().any(
                    |l| l.starts_with(section) && l.contains("expects TLS from the first byte")
                ),
                "{security} {section}: {t}"
            );
        }
        // Recognised, not waited out (20 s for SMTP, 60 s for IMAP).
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }
}

#[test]
fn a_ca_certificate_as_the_servers_own_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("ca.pem"), dir.path().join("key.pem"));
    // OpenSSL 3's default self-signed certificate carries CA:TRUE.
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
    let port = closed_port();
    let mut server = Command::new("openssl")
        .args(["s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    common::gateway::wait_until("s_server listening", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    let config = write_config(
        dir.path(),
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"tls\"\nca_file = \"{c}\"\ntimeout_secs = 5\n\n[imap]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"tls\"\nca_file = \"{c}\"\nusername = \"u\"\npassword = \"p\"\n",
            c = cert.display()
        ),
    );
    let out = cli(&config, &["check-config"]);
    let _ = server.kill();
    let _ = server.wait();
    let t = text(&out);
    for section in ["smtp", "imap"] {
        assert!(
            t.lines()
                .any(|l| l.starts_with(section) && l.contains("leaf certificate")),
            "{section}: {t}"
        );
    }
}

/// Not a test: the acknowledgement rate through the real Postfix, for the issue's
/// before/after numbers. `IGW_MEASURE_ACKS=N` (default 200):
/// `cargo test --test reliability_smtp -- --ignored --nocapture measure_ack_rate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn measure_ack_rate() {
    let n: usize = std::env::var("IGW_MEASURE_ACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let stack = MailStack::shared();
    for wire in [Wire::Plain, Wire::Tls] {
        let gw = Gateway::new(stack, wire, "");
        for i in 0..n {
            queue_ack(
                &gw.config,
                &format!("m{i}-{}@agency.test", uuid::Uuid::new_v4().simple()),
            );
        }
        let start = Instant::now();
        let out = cli(&gw.config, &["outbound", "flush"]);
        let took = start.elapsed();
        println!(
            "{wire:?}: {} in {:.2} s = {:.1} acks/s",
            String::from_utf8_lossy(&out.stdout).trim(),
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
    }
}

/// Implicit TLS (SMTPS, `security = "tls"`) in front of the stack's Postfix: a TLS
/// terminator with the stack's certificate that relays the bytes to Postfix.
async fn smtps_front(stack: &MailStack) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(stack.base.join("tls/cert.pem"))
            .expect("cert.pem")
            .collect::<Result<_, _>>()
            .expect("certs");
    let key = PrivateKeyDer::from_pem_file(stack.base.join("tls/key.pem")).expect("key.pem");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let smtp_port = stack.smtp_port;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let (Ok(mut tls), Ok(mut plain)) = (
                    acceptor.accept(tcp).await,
                    tokio::net::TcpStream::connect(("127.0.0.1", smtp_port)).await,
                ) else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_smtp_delivers_over_our_own_connection() {
    let stack = MailStack::shared();
    let gw = Gateway::new(stack, Wire::Plain, "");
    let port = smtps_front(stack).await;
    let toml = std::fs::read_to_string(&gw.config).expect("config");
    let toml = toml.replacen(
        &format!("port = {}\nsecurity = \"none\"", stack.smtp_port),
        &format!("port = {port}\nsecurity = \"tls\""),
        1,
    );
    assert!(toml.contains("security = \"tls\""));
    std::fs::write(&gw.config, toml).expect("config");
    let who = format!("tls-{}@agency.test", uuid::Uuid::new_v4().simple());
    queue_ack(&gw.config, &who);
    let config = gw.config.clone();
    let out = tokio::task::spawn_blocking(move || cli(&config, &["outbound", "flush"]))
        .await
        .expect("flush");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sent 1,"),
        "{}",
        text(&out)
    );
    let config = gw.config.clone();
    let check = tokio::task::spawn_blocking(move || cli(&config, &["check-config"]))
        .await
        .expect("check-config");
    assert!(
        text(&check).contains(&format!("smtp      ok    127.0.0.1:{port}")),
        "{}",
        text(&check)
    );
    wait_mail(stack, &gw, &who, 1).await;
}
