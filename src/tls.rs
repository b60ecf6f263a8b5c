//! The TLS client set-up every outgoing connection shares (IMAP, the OAuth2 token
//! endpoint, the SIEM's syslog collector): the public web roots plus the CAs of an
//! optional `ca_file`, over ring. The SMTP side gets the same trust through lettre.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;

/// Why a TLS client could not be set up (the text names the file and what to fix).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read ca_file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ca_file {} is not PEM: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("ca_file {}: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },
    #[error("TLS set-up: {0}")]
    Protocol(String),
}

/// The public web roots and every certificate of `ca_file`.
pub fn roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, TlsSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| TlsSetupError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| TlsSetupError::Pem {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            roots.add(cert).map_err(|e| TlsSetupError::Certificate {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(roots)
}

/// A client configuration trusting [`roots`], safe protocol versions, no client
/// certificate.
pub fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Protocol(e.to_string()))?
        .with_root_certificates(roots(ca_file)?)
        .with_no_client_auth())
}

/// [`client_config`] as a connector.
pub fn connector(ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, TlsSetupError> {
    Ok(tokio_rustls::TlsConnector::from(Arc::new(client_config(
        ca_file,
    )?)))
}
