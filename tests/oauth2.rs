//! OAuth2 end to end on real parts: npm's oauth2-mock-server issues RS256 JWTs by the
//! client-credentials and refresh-token grants, Dovecot's `oauth2` passdb validates them
//! (IMAP XOAUTH2 and OAUTHBEARER), and Postfix submission takes AUTH XOAUTH2 through
//! Dovecot's SASL, with AUTH required before any mail.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use common::gateway::{report, wait_mail, wait_until, Gateway, Wire};
use common::mailbox::{header, send_smtp};
use common::stack::{MailStack, OAuthServer};

fn stack() -> &'static MailStack {
    static STACK: OnceLock<MailStack> = OnceLock::new();
    STACK.get_or_init(MailStack::start_oauth2)
}

fn server(stack: &MailStack) -> &OAuthServer {
    stack.oauth.as_ref().expect("an OAuth2 stack")
}

fn reporter() -> String {
    format!("r-{}@agency.test", uuid::Uuid::new_v4().simple())
}

/// An app registered for the gateway's mailbox; its secret is written to a file in the
/// gateway's directory. Returns the client id and the secret.
fn register(
    stack: &MailStack,
    gw: &Gateway,
    expires_in: u64,
    extra: serde_json::Value,
) -> (String, String) {
    let id = format!("app-{}", uuid::Uuid::new_v4().simple());
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    server(stack).register(&id, &secret, &gw.soc, expires_in, extra);
    std::fs::write(gw.data_dir().join("client-secret"), format!("{secret}\n"))
        .expect("write secret");
    (id, secret)
}

/// The `[oauth2]` section of a client-credentials app.
fn client_credentials(stack: &MailStack, gw: &Gateway, id: &str) -> String {
    format!(
        "token_url = \"{}\"\nca_file = \"{}\"\nclient_id = \"{id}\"\nscope = \"https://outlook.office365.com/.default\"\nclient_secret_file = \"{}\"\n",
        server(stack).token_url,
        stack.ca_cert.display(),
        gw.data_dir().join("client-secret").display()
    )
}

fn stack_log(stack: &MailStack, name: &str) -> String {
    std::fs::read_to_string(stack.base.join("log").join(name)).unwrap_or_default()
}

/// `check-config`: whether it passed, and all it printed.
fn check_config(gw: &Gateway) -> (bool, String) {
    let out = gw.try_cli(&["check-config"]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A log without its colour codes.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The secret and any JWT (base64 of `{"`) are absent from `text`.
fn assert_no_secrets(what: &str, text: &str, secret: &str) {
    assert!(
        !text.contains(secret),
        "{what} shows the client secret:\n{text}"
    );
    assert!(
        !text.contains("eyJ"),
        "{what} shows an access token:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_acknowledged_with_imap_and_smtp_on_tokens() {
    let stack = stack();
    let mut gw = Gateway::new(stack, Wire::Tls, "");
    let (id, secret) = register(stack, &gw, 3600, serde_json::json!({}));
    gw.use_oauth2(stack, "oauthbearer", &client_credentials(stack, &gw, &id));
    gw.start(&[("RUST_LOG", "debug")]);
    let who = reporter();
    let (_, raw) = report(
        &who,
        &gw.soc,
        "Phishing link clicked",
        "A user clicked at 9:40.",
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], &raw).await;

    let acks = wait_mail(stack, &gw, &who, 1).await;
    let subject = header(&acks[0], "Subject").unwrap_or_default();
    assert!(
        subject.ends_with("] Received: Phishing link clicked"),
        "{subject}"
    );
    // Dovecot let the gateway in by its token, Postfix took the acknowledgement by it
    // (the submission port refuses mail without AUTH), and both used one token.
    let dovecot = stack_log(stack, "dovecot.log");
    assert!(
        dovecot.contains(&format!("Login: user=<{}>, method=OAUTHBEARER", gw.soc)),
        "{dovecot}"
    );
    wait_until(
        "Postfix logs the SASL login",
        Duration::from_secs(10),
        || {
            stack_log(stack, "postfix.log")
                .contains(&format!("sasl_method=XOAUTH2, sasl_username={}", gw.soc))
                .then_some(())
        },
    );
    assert_eq!(server(stack).token_requests(&id), vec![200]);

    let (ok, ok_out) = check_config(&gw);
    assert!(ok, "{ok_out}");
    assert!(
        ok_out.contains(&format!("oauth2    ok    token for client {id}")),
        "{ok_out}"
    );
    assert!(ok_out.contains("imap      ok"), "{ok_out}");
    assert!(ok_out.contains("smtp      ok"), "{ok_out}");

    // A wrong secret: check-config names the step and the refusal, not the secret.
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    std::fs::write(gw.data_dir().join("client-secret"), &wrong).expect("write secret");
    let (ok, bad_out) = check_config(&gw);
    assert!(!ok, "{bad_out}");
    assert!(
        bad_out.contains("oauth2    FAIL  OAuth2 token endpoint"),
        "{bad_out}"
    );
    assert!(
        bad_out.contains("refused the client (invalid_client): Client authentication failed."),
        "{bad_out}"
    );
    assert!(
        bad_out.contains("imap      skip  no OAuth2 token to log in with"),
        "{bad_out}"
    );

    // The right secret, but an app whose tokens are for another mailbox: the servers'
    // own refusals (with their JSON error challenge answered) are shown.
    let other = reporter();
    server(stack).register(&id, &secret, &other, 3600, serde_json::json!({}));
    std::fs::write(gw.data_dir().join("client-secret"), &secret).expect("write secret");
    let (ok, refused_out) = check_config(&gw);
    assert!(!ok, "{refused_out}");
    assert!(refused_out.contains("oauth2    ok"), "{refused_out}");
    assert!(
        refused_out.contains("AUTHENTICATE OAUTHBEARER refused"),
        "{refused_out}"
    );
    assert!(refused_out.contains("smtp      FAIL"), "{refused_out}");
    assert!(
        refused_out.contains("refused AUTH XOAUTH2"),
        "{refused_out}"
    );

    // The token endpoint's certificate is checked: without the CA that signed it, no.
    let text = std::fs::read_to_string(&gw.config).expect("read config");
    let ca = format!("ca_file = \"{}\"\n", stack.ca_cert.display());
    let at = text.rfind(&ca).expect("[oauth2] ca_file");
    let text = format!("{}{}", &text[..at], &text[at + ca.len()..]);
    std::fs::write(&gw.config, text).expect("write config");
    let (ok, tls_out) = check_config(&gw);
    assert!(!ok, "{tls_out}");
    assert!(
        tls_out.contains("is unreachable: TLS with 127.0.0.1:"),
        "{tls_out}"
    );
    assert!(tls_out.contains("UnknownIssuer"), "{tls_out}");

    gw.terminate();
    assert_no_secrets("the debug log", &gw.log_text(), &secret);
    assert_no_secrets("check-config", &ok_out, &secret);
    assert_no_secrets("check-config", &bad_out, &wrong);
    assert_no_secrets("check-config", &refused_out, &secret);
    println!("{bad_out}{refused_out}{tls_out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiring_during_idle_is_renewed_with_no_message_lost() {
    let stack = stack();
    let mut gw = Gateway::new(stack, Wire::Tls, "");
    let refresh = format!("refresh-{}", uuid::Uuid::new_v4().simple());
    // Tokens for 8 s: renewed at 6.4 s, while the gateway waits in IDLE (renewal 60 s).
    let (id, secret) = register(
        stack,
        &gw,
        8,
        serde_json::json!({ "refresh_token": refresh }),
    );
    let oauth2 = format!(
        "grant = \"refresh_token\"\ntoken_url = \"{}\"\nca_file = \"{}\"\nclient_id = \"{id}\"\nclient_secret_file = \"{}\"\nrefresh_token_env = \"IGW_TEST_REFRESH_TOKEN\"\n",
        server(stack).token_url,
        stack.ca_cert.display(),
        gw.data_dir().join("client-secret").display()
    );
    gw.use_oauth2(stack, "xoauth2", &oauth2);
    gw.start(&[("IGW_TEST_REFRESH_TOKEN", refresh.as_str())]);
    gw.wait_log("IMAP intake connected", Duration::from_secs(20));

    let who = reporter();
    let reports = 5;
    for i in 0..reports {
        let (_, raw) = report(&who, &gw.soc, &format!("Report {i}"), "Suspicious login.");
        send_smtp(stack, &who, &[gw.soc.as_str()], &raw).await;
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    let acks = wait_mail(stack, &gw, &who, reports).await;
    assert_eq!(acks.len(), reports);
    assert_eq!(gw.cases().len(), reports);

    let log = gw.log_text();
    let renewals = log.matches("logging in again with a new token").count();
    assert!(renewals >= 2, "sessions renewed {renewals} times:\n{log}");
    let requests = server(stack).token_requests(&id);
    assert!(
        requests.len() >= 3 && requests.iter().all(|s| *s == 200),
        "{requests:?}"
    );
    let logins = stack_log(stack, "dovecot.log")
        .matches(&format!("Login: user=<{}>, method=XOAUTH2", gw.soc))
        .count();
    assert!(logins > renewals, "{logins} logins for {renewals} renewals");
    assert!(!log.contains("IMAP intake interrupted"), "{log}");
    gw.terminate();
    assert_no_secrets("the log", &gw.log_text(), &secret);
    assert_no_secrets("the log", &gw.log_text(), &refresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_client_gets_a_clear_error_and_a_back_off() {
    let stack = stack();
    let mut gw = Gateway::new(stack, Wire::Tls, "");
    let (id, secret) = register(stack, &gw, 6, serde_json::json!({}));
    gw.use_oauth2(stack, "xoauth2", &client_credentials(stack, &gw, &id));
    gw.start(&[]);
    gw.wait_log("IMAP intake connected", Duration::from_secs(20));
    server(stack).revoke(&id);

    // The session's token runs out, the new request is refused: said once, in words.
    gw.wait_log("invalid_client", Duration::from_secs(30));
    let log = plain(&gw.log_text());
    assert!(
        log.contains("refused the client (invalid_client): The client has been revoked."),
        "{log}"
    );
    assert!(
        log.contains("OAuth2 token request failed; backing off"),
        "{log}"
    );
    assert!(log.contains("retry_in_s=60"), "{log}");
    // IMAP keeps reconnecting (every 2 s here), but the endpoint is not asked again
    // during the back-off: over 12 s, one refusal (a busy loop would make dozens).
    tokio::time::sleep(Duration::from_secs(12)).await;
    let refusals = server(stack)
        .token_requests(&id)
        .iter()
        .filter(|s| **s == 401)
        .count();
    assert_eq!(refusals, 1, "{:?}", server(stack).token_requests(&id));
    let log = plain(&gw.log_text());
    assert!(log.contains("no new token request for"), "{log}");
    assert!(log.matches("IMAP intake interrupted").count() >= 2, "{log}");
    gw.terminate();
    assert_no_secrets("the log", &gw.log_text(), &secret);
}
