//! A private Postfix + Dovecot on loopback for one test binary (or one test), all
//! files under one short directory; see ../shared/docs/mailstack.md for the facts.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// One running mail stack.
pub struct MailStack {
    pub base: PathBuf,
    pub smtp_port: u16,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub lmtp_port: u16,
    pub password: String,
    /// The private CA that signed the servers' certificate: the only CA clients should trust.
    pub ca_cert: PathBuf,
    /// Dovecot advertises only IMAP4rev1 basics: no IDLE, MOVE or UIDPLUS.
    pub plain_imap: bool,
    /// Postfix submission with AUTH through Dovecot (the OAuth2 stack only; else 0).
    pub submission_port: u16,
    /// The OAuth2 authorization server whose tokens Dovecot accepts (the OAuth2 stack).
    pub oauth: Option<OAuthServer>,
}

/// npm's oauth2-mock-server run by `tests/oauth2-server/server.js`: issues RS256 JWTs
/// that Dovecot's `oauth2` passdb validates with the server's public key.
pub struct OAuthServer {
    /// `https://127.0.0.1:PORT/token` (the stack's CA signed its certificate).
    pub token_url: String,
    /// The `iss` of its tokens.
    pub issuer: String,
    clients: PathBuf,
    keys: PathBuf,
    pub log: PathBuf,
    /// The node process (stopped with the stack; the watchdog too knows its pid).
    _child: Option<std::process::Child>,
}

impl OAuthServer {
    /// Starts it over HTTPS with `tls/key.pem` and `tls/cert.pem` of `tls`.
    fn start(dir: &Path, tls: &Path) -> OAuthServer {
        let target = Path::new(env!("CARGO_BIN_EXE_incident-gateway"))
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .join("oauth2-server/node_modules");
        assert!(
            target.join("oauth2-mock-server").is_dir(),
            "{} is missing: run scripts/install-test-deps.sh (it installs the OAuth2 test server with npm)",
            target.display()
        );
        fs::create_dir_all(dir).expect("oauth2 dir");
        let server = OAuthServer {
            token_url: String::new(),
            issuer: String::new(),
            clients: dir.join("clients.json"),
            keys: dir.join("keys"),
            log: dir.join("server.log"),
            _child: None,
        };
        fs::write(&server.clients, "{}").expect("write clients.json");
        let log = fs::File::create(&server.log).expect("oauth2 server log");
        let child = Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/oauth2-server/server.js"
            ))
            .arg(&server.clients)
            .arg(&server.keys)
            .arg(tls.join("key.pem"))
            .arg(tls.join("cert.pem"))
            .env("NODE_PATH", &target)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("run node (scripts/install-test-deps.sh installs it)");
        fs::write(dir.join("pid"), child.id().to_string()).expect("write oauth2 pid");
        let start = Instant::now();
        let issuer = loop {
            let text = fs::read_to_string(&server.log).unwrap_or_default();
            if let Some(url) = text.lines().find_map(|l| l.strip_prefix("listening ")) {
                break url.trim().to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the OAuth2 server did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let port = issuer.rsplit(':').next().unwrap_or_default().to_string();
        OAuthServer {
            token_url: format!("https://127.0.0.1:{port}/token"),
            issuer,
            _child: Some(child),
            ..server
        }
    }

    /// Registers (or replaces) an app: its secret, the mailbox its tokens open, their
    /// lifetime; `extra` JSON fields (`refresh_token`, `revoked`) are merged in.
    pub fn register(
        &self,
        client_id: &str,
        secret: &str,
        mailbox: &str,
        expires_in: u64,
        extra: serde_json::Value,
    ) {
        let mut entry =
            serde_json::json!({"secret": secret, "mailbox": mailbox, "expires_in": expires_in});
        if let (Some(e), Some(x)) = (entry.as_object_mut(), extra.as_object()) {
            e.extend(x.clone());
        }
        self.update(client_id, entry);
    }

    /// Revokes an app: its next token request is refused with invalid_client.
    pub fn revoke(&self, client_id: &str) {
        let mut entry = self.entry(client_id);
        entry["revoked"] = serde_json::Value::Bool(true);
        self.update(client_id, entry);
    }

    fn entry(&self, client_id: &str) -> serde_json::Value {
        let text = fs::read_to_string(&self.clients).expect("read clients.json");
        let all: serde_json::Value = serde_json::from_str(&text).expect("clients.json");
        all[client_id].clone()
    }

    fn update(&self, client_id: &str, entry: serde_json::Value) {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let text = fs::read_to_string(&self.clients).expect("read clients.json");
        let mut all: serde_json::Value = serde_json::from_str(&text).expect("clients.json");
        all[client_id] = entry;
        // The server reads the file at every request: replace it whole.
        let tmp = self.clients.with_extension("tmp");
        fs::write(&tmp, all.to_string()).expect("write clients.json");
        fs::rename(&tmp, &self.clients).expect("replace clients.json");
    }

    /// Token requests the server answered for `client_id`, with their HTTP status.
    pub fn token_requests(&self, client_id: &str) -> Vec<u16> {
        let prefix = format!("token client={client_id} ");
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit("status=").next()?.trim().parse().ok())
            .collect()
    }
}

static SHARED: OnceLock<MailStack> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Five distinct free ports: every listener is held until all five are chosen.
fn free_ports() -> [u16; 5] {
    let listeners: Vec<TcpListener> = (0..5)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("ask the OS for a free port"))
        .collect();
    let port = |i: usize| listeners[i].local_addr().expect("local addr").port();
    [port(0), port(1), port(2), port(3), port(4)]
}

fn write_cooled(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    // Postfix re-reads a main.cf younger than ~2 s until it cools down (gotcha 5).
    let past = SystemTime::now() - Duration::from_secs(10);
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(past))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

fn run_quiet(cmd: &mut Command, log: &Path, what: &str) {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open daemon start log");
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup log"))
        .stderr(out)
        .status()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(status.success(), "{what} failed ({status}):\n{}", tail(log));
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Reads a pid file; `None` if absent, unreadable, or the process is gone (or a zombie).
fn live_pid(pid_file: &Path) -> Option<i32> {
    let pid: i32 = fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit(')').next()?.split_whitespace().next()?;
    (state != "Z").then_some(pid)
}

impl MailStack {
    /// The stack shared by every test of this binary, started on first use.
    pub fn shared() -> &'static MailStack {
        SHARED.get_or_init(MailStack::start)
    }

    /// A fresh private stack (for tests that stop a daemon). A start that fails (a port
    /// taken between choosing and binding it) is retried twice with new ports.
    pub fn start() -> MailStack {
        MailStack::start_with(false, false)
    }

    /// A private stack whose Dovecot offers no IDLE, MOVE or UIDPLUS, as some servers.
    pub fn start_plain_imap() -> MailStack {
        MailStack::start_with(true, false)
    }

    /// A private stack with an OAuth2 authorization server: Dovecot accepts its tokens
    /// (XOAUTH2, OAUTHBEARER; passwords still work for PLAIN/LOGIN), and Postfix offers
    /// submission on `submission_port` with AUTH through Dovecot, required to send.
    pub fn start_oauth2() -> MailStack {
        MailStack::start_with(false, true)
    }

    fn start_with(plain_imap: bool, oauth2: bool) -> MailStack {
        let mut last = String::new();
        for _ in 0..3 {
            match std::panic::catch_unwind(|| MailStack::try_start(plain_imap, oauth2)) {
                Ok(stack) => return stack,
                Err(e) => {
                    last = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    eprintln!("mail stack start failed, retrying: {last}");
                }
            }
        }
        panic!("the mail stack did not start in 3 attempts: {last}");
    }

    fn try_start(plain_imap: bool, oauth2: bool) -> MailStack {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = PathBuf::from(format!("/tmp/igw-ms-{}-{n}", std::process::id()));
        assert!(
            base.as_os_str().len() <= 70,
            "base dir too long for Dovecot sockets"
        );
        let _ = fs::remove_dir_all(&base);
        let ports = free_ports();
        let mut stack = MailStack {
            ca_cert: base.join("tls/ca.pem"),
            base,
            smtp_port: ports[0],
            imap_port: ports[1],
            imaps_port: ports[2],
            lmtp_port: ports[3],
            password: format!("pw-{}", uuid::Uuid::new_v4().simple()),
            plain_imap,
            submission_port: if oauth2 { ports[4] } else { 0 },
            oauth: None,
        };
        stack.prepare();
        if oauth2 {
            // Over HTTPS with the servers' certificate, so the client's TLS is tested too.
            stack.oauth = Some(OAuthServer::start(
                &stack.base.join("oauth2"),
                &stack.base.join("tls"),
            ));
        }
        stack.write_configs();
        stack.start_dovecot();
        stack.start_postfix();
        stack.spawn_watchdog();
        stack
    }

    fn prepare(&self) {
        let b = &self.base;
        for d in [
            "etc/postfix",
            "tls",
            "mail",
            "run",
            "spool",
            "postfix-data",
            "log",
        ] {
            fs::create_dir_all(b.join(d)).expect("create stack dirs");
        }
        fs::set_permissions(b, fs::Permissions::from_mode(0o755)).expect("chmod base");
        let chown = |user: &str, path: PathBuf| {
            run_quiet(
                Command::new("chown")
                    .arg(format!("{user}:{user}"))
                    .arg(&path),
                &b.join("log/start.log"),
                "chown",
            )
        };
        chown("mail", b.join("mail"));
        chown("postfix", b.join("postfix-data"));
        // A private CA and a server certificate it signs (webpki refuses a self-signed
        // CA certificate used as the server's own).
        let t = b.join("tls");
        let log = b.join("log/start.log");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run_quiet(
            Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-days",
                    "3650",
                    "-subj",
                    "/CN=incident-gateway test CA",
                ])
                .args(ec)
                .arg("-keyout")
                .arg(t.join("ca-key.pem"))
                .arg("-out")
                .arg(t.join("ca.pem")),
            &log,
            "openssl CA",
        );
        run_quiet(
            Command::new("openssl")
                .args(["req", "-subj", "/CN=localhost"])
                .args(ec)
                .arg("-keyout")
                .arg(t.join("key.pem"))
                .arg("-out")
                .arg(t.join("server.csr")),
            &log,
            "openssl CSR",
        );
        fs::write(
            t.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write cert extensions");
        run_quiet(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "3650", "-CAcreateserial"])
                .arg("-in")
                .arg(t.join("server.csr"))
                .arg("-CA")
                .arg(t.join("ca.pem"))
                .arg("-CAkey")
                .arg(t.join("ca-key.pem"))
                .arg("-extfile")
                .arg(t.join("server.ext"))
                .arg("-out")
                .arg(t.join("cert.pem")),
            &log,
            "openssl sign",
        );
        fs::set_permissions(b.join("tls/key.pem"), fs::Permissions::from_mode(0o600))
            .expect("chmod key");
        let ok = Command::new("runuser")
            .args(["-u", "mail", "--", "test", "-w"])
            .arg(b.join("mail"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "user mail cannot write {}: every parent needs o+x",
            b.join("mail").display()
        );
    }

    fn write_configs(&self) {
        let b = &self.base;
        write_cooled(&b.join("etc/dovecot.conf"), &self.dovecot_conf());
        if let Some(o) = &self.oauth {
            write_cooled(
                &b.join("etc/dovecot-oauth2.conf.ext"),
                &format!(
                    "introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix={}/\nusername_attribute = email\nissuers = {}\n",
                    o.keys.display(),
                    o.issuer
                ),
            );
        }
        write_cooled(&b.join("etc/postfix/main.cf"), &self.postfix_main());
        // As Exchange Online and Gmail file what a mailbox sends in its Sent folder, so
        // does this stack for each gateway's SOC address (with its VERP envelope
        // senders): a copy to soc-…+Sent@, which Dovecot saves in the folder Sent.
        write_cooled(
            &b.join("etc/postfix/sender_bcc.regexp"),
            "/^(soc-[0-9a-f]+)(\\+bounce-[0-9a-f]+)?@mass\\.gov$/ ${1}+Sent@mass.gov\n",
        );
        write_cooled(&b.join("etc/postfix/master.cf"), &self.postfix_master());
    }

    fn dovecot_conf(&self) -> String {
        let b = self.base.display();
        format!(
            r#"instance_name = mailstack-{imap}
base_dir = {b}/run/dovecot
state_dir = {b}/run/dovecot-state
log_path = {b}/log/dovecot.log
info_log_path = {b}/log/dovecot.log
debug_log_path = {b}/log/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
hostname = mail.agency.test
disable_plaintext_auth = no
auth_username_format = %Lu
auth_failure_delay = 0
{oauth_passdb}passdb {{
  driver = static
  args = password={pw}
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={b}/mail/%d/%n allow_all_users=yes
}}
mail_location = maildir:~/Maildir
first_valid_uid = 8
first_valid_gid = 8
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Processed {{
    auto = subscribe
  }}
  mailbox Sent {{
    auto = subscribe
    special_use = \Sent
  }}
  mailbox Trash {{
    auto = subscribe
    special_use = \Trash
  }}
}}
ssl = yes
ssl_cert = <{b}/tls/cert.pem
ssl_key = <{b}/tls/key.pem
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol lmtp {{
  lmtp_save_to_detail_mailbox = yes
}}
protocol imap {{
  mail_max_userip_connections = 100
  {caps}
}}
"#,
            caps = if self.plain_imap {
                "imap_capability = IMAP4rev1 LITERAL+ ID ENABLE NAMESPACE UNSELECT CHILDREN"
            } else {
                ""
            },
            oauth_passdb = if self.oauth.is_some() {
                // Tokens for XOAUTH2/OAUTHBEARER (checked against the issuer's key), the
                // password for the rest; an auth socket for Postfix's SASL.
                format!(
                    "auth_mechanisms = plain login xoauth2 oauthbearer\npassdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {b}/etc/dovecot-oauth2.conf.ext\n}}\nservice auth {{\n  unix_listener auth-postfix {{\n    mode = 0666\n  }}\n}}\n"
                )
            } else {
                String::new()
            },
            imap = self.imap_port,
            imaps = self.imaps_port,
            lmtp = self.lmtp_port,
            pw = self.password,
        )
    }

    fn postfix_main(&self) -> String {
        let b = self.base.display();
        format!(
            "compatibility_level = 3.6
config_directory = {b}/etc/postfix
queue_directory = {b}/spool
data_directory = {b}/postfix-data
maillog_file = {b}/log/postfix.log
maillog_file_prefixes = {b}/log
syslog_name = postfix-mailstack-{smtp}
myhostname = mail.agency.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
virtual_mailbox_domains = agency.test, mass.gov, state.ma.us, vendor.test
virtual_mailbox_maps =
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
# One address whose mail always bounces: the gateway's bounce handling is tested with
# a delivery status notification that Postfix itself writes.
# (accepted first, so the DSN goes to the envelope sender, as a remote server's would).
transport_maps = inline:{{ {{ gone@agency.test = error:5.1.1 mailbox unavailable }} }}
smtpd_reject_unlisted_recipient = no
sender_bcc_maps = regexp:{b}/etc/postfix/sender_bcc.regexp
smtpd_relay_restrictions = reject_unauth_destination
default_transport = error:mailstack does not relay
relay_transport = error:mailstack does not relay
notify_classes =
message_size_limit = 52428800
in_flow_delay = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 10s
smtpd_tls_security_level = may
smtpd_tls_cert_file = {b}/tls/cert.pem
smtpd_tls_key_file = {b}/tls/key.pem
",
            smtp = self.smtp_port,
            lmtp = self.lmtp_port,
        )
    }

    fn postfix_master(&self) -> String {
        // Submission for the OAuth2 stack: TLS, then AUTH (Dovecot SASL) before any mail.
        let submission = if self.submission_port == 0 {
            String::new()
        } else {
            format!(
                "127.0.0.1:{port} inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path={b}/run/dovecot/auth-postfix
  -o smtpd_tls_security_level=encrypt
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
",
                port = self.submission_port,
                b = self.base.display()
            )
        };
        format!(
            "127.0.0.1:{smtp} inet n - n - - smtpd
{submission}pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
",
            smtp = self.smtp_port
        )
    }

    fn wait_ports(&self, ports: &[u16], what: &str) {
        let start = Instant::now();
        for &p in ports {
            while TcpStream::connect(("127.0.0.1", p)).is_err() {
                if start.elapsed() > Duration::from_secs(20) {
                    panic!(
                        "{what} not listening on {p} after 20 s\n--- dovecot.log\n{}\n--- postfix.log\n{}\n--- start.log\n{}",
                        tail(&self.base.join("log/dovecot.log")),
                        tail(&self.base.join("log/postfix.log")),
                        tail(&self.base.join("log/start.log")),
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn wait_port_closed(&self, port: u16) {
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_ok()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn start_dovecot(&self) {
        // A stale anvil socket makes the first login hang (gotcha 7).
        let _ = fs::remove_dir_all(self.base.join("run/dovecot"));
        fs::create_dir_all(self.base.join("run/dovecot")).expect("dovecot base_dir");
        run_quiet(
            Command::new("dovecot")
                .arg("-c")
                .arg(self.base.join("etc/dovecot.conf")),
            &self.base.join("log/start.log"),
            "dovecot start",
        );
        self.wait_ports(
            &[self.imap_port, self.imaps_port, self.lmtp_port],
            "dovecot",
        );
    }

    pub fn start_postfix(&self) {
        run_quiet(
            Command::new("postfix")
                .arg("-c")
                .arg(self.base.join("etc/postfix"))
                .arg("start"),
            &self.base.join("log/start.log"),
            "postfix start",
        );
        let ports = [self.smtp_port, self.submission_port];
        let n = if self.submission_port == 0 { 1 } else { 2 };
        self.wait_ports(&ports[..n], "postfix");
    }

    /// The live pid in `pid_file` if its command line names `arg` (so that a recycled
    /// pid or another instance is never hit).
    fn pid_running(&self, pid_file: &str, arg: &str) -> Option<i32> {
        let pid = live_pid(&self.base.join(pid_file))?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let arg = self.base.join(arg);
        String::from_utf8_lossy(&cmdline)
            .contains(&*arg.to_string_lossy())
            .then_some(pid)
    }

    fn dovecot_pid(&self) -> Option<i32> {
        self.pid_running("run/dovecot/master.pid", "etc/dovecot.conf")
    }

    fn postfix_pid(&self) -> Option<i32> {
        let pid = live_pid(&self.base.join("spool/pid/master.pid"))?;
        let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let want = format!("MAIL_CONFIG={}", self.base.join("etc/postfix").display());
        String::from_utf8_lossy(&environ)
            .contains(&want)
            .then_some(pid)
    }

    pub fn stop_postfix(&self) {
        if let Some(pid) = self.postfix_pid() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        self.wait_port_closed(self.smtp_port);
    }

    pub fn stop_dovecot(&self) {
        if let Some(pid) = self.dovecot_pid() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        self.wait_port_closed(self.imap_port);
    }

    /// The OAuth2 server's node process, if it is still that one.
    fn oauth_pid(&self) -> Option<i32> {
        self.pid_running("oauth2/pid", "oauth2/clients.json")
    }

    pub fn stop(&self) {
        for pid in [self.postfix_pid(), self.dovecot_pid(), self.oauth_pid()]
            .into_iter()
            .flatten()
        {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }

    /// Stops both masters and removes the directory when the test process exits,
    /// however it exits (the shared stack is a static and is never dropped).
    fn spawn_watchdog(&self) {
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; \
             for f in {b}/spool/pid/master.pid {b}/run/dovecot/master.pid {b}/oauth2/pid; do \
               p=$(tr -d ' ' < $f 2>/dev/null) && [ -n \"$p\" ] && kill -TERM $p 2>/dev/null; done; \
             sleep 2; rm -rf {b}",
            me = std::process::id(),
            b = self.base.display()
        );
        let _ = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for MailStack {
    fn drop(&mut self) {
        self.stop();
    }
}
