//! A small HTTP/1.1 POST client over our own TCP and TLS (hyper is already under axum):
//! the OAuth2 token endpoint and the SOC's chat webhook. Errors name the host and port,
//! never the path or query (a webhook URL carries its secret there).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, RETRY_AFTER, USER_AGENT};
use tokio::net::TcpStream;

/// An answer: its status, its first 256 KiB and its `Retry-After` in seconds.
pub struct HttpReply {
    pub status: u16,
    pub body: Vec<u8>,
    pub retry_after: Option<Duration>,
}

/// The parts of a URL: TLS or not, host, port, path with query.
pub fn split_url(url: &str) -> Result<(bool, String, u16, String), String> {
    let (tls, rest) = match url.split_once("://") {
        Some(("https", r)) => (true, r),
        Some(("http", r)) => (false, r),
        _ => return Err("the URL is not http(s)".to_string()),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        // Never repeated: what stands before the host is a user name and password.
        return Err("a user or password before the host is not supported".to_string());
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("'{p}' in the URL is not a port"))?,
        ),
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok((tls, host.to_string(), port, path))
}

/// POSTs `body` as `content_type` (TLS with the public web roots and `ca_file` for
/// https). The caller bounds the time.
pub async fn post(
    url: &str,
    ca_file: Option<&Path>,
    content_type: &str,
    body: Vec<u8>,
) -> Result<HttpReply, String> {
    let (tls, host, port, path) = split_url(url)?;
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    tcp.set_nodelay(true).ok();
    let host_header = if port == if tls { 443 } else { 80 } {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    let req = hyper::Request::post(path)
        .header(HOST, host_header)
        .header(CONTENT_TYPE, content_type)
        .header(ACCEPT, "application/json")
        .header(
            USER_AGENT,
            concat!("incident-gateway/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    if tls {
        let connector = crate::tls::connector(ca_file).map_err(|e| e.to_string())?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("'{host}' is not a valid server name: {e}"))?;
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}:{port} failed: {e}"))?;
        exchange(hyper_util::rt::TokioIo::new(stream), req).await
    } else {
        exchange(hyper_util::rt::TokioIo::new(tcp), req).await
    }
}

async fn exchange<S>(io: S, req: hyper::Request<Full<Bytes>>) -> Result<HttpReply, String>
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    // The connection task ends with this call, also when the caller's timeout drops it.
    struct Abort(tokio::task::JoinHandle<Result<(), hyper::Error>>);
    impl Drop for Abort {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _driver = Abort(tokio::spawn(conn));
    async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP request failed: {e}"))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The answers wanted here are a few kilobytes; anything far larger is not one.
        let body = Limited::new(resp.into_body(), 256 * 1024)
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
            .to_bytes()
            .to_vec();
        Ok(HttpReply {
            status,
            body,
            retry_after,
        })
    }
    .await
}
