//! The clients' TLS settings (`send`, `chat` and `bench` with `--tls`): whom
//! to trust (the system's roots, or `--tls-ca`), which name to ask for and
//! verify (`--tls-server-name`, else the host of `--addr`), or no
//! verification at all (`--tls-insecure`, said on stderr by the caller).
//!
//! Every failure becomes one line that says what to do about it: a
//! certificate that does not verify names why and the flag that helps; a
//! server that answers a TLS hello with something else is said not to
//! speak TLS.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::pem::{self, KeyPair};

/// What the command line asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTlsSettings {
    /// Trust these certificates (PEM) instead of the system's roots.
    pub ca: Option<PathBuf>,
    /// The name for SNI and verification; `None`: the host as typed.
    pub server_name: Option<String>,
    /// Skip verifying the server's certificate.
    pub insecure: bool,
    /// ALPN protocols to offer.
    pub alpn: Vec<String>,
    /// Keep sessions to resume them (tickets or IDs); off, every handshake
    /// is a full one (what `bench --mode churn --tls` measures by default).
    pub resume: bool,
    /// A certificate to show a server that asks for one (mutual TLS).
    pub identity: Option<KeyPair>,
}

/// A ready client configuration and the name to connect as.
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl ClientTls {
    /// `host` is what the user typed in `--addr` (a name or an address).
    pub fn new(settings: &ClientTlsSettings, host: &str) -> Result<ClientTls, String> {
        let name = settings.server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|_| format!("'{name}' is not a valid TLS server name (--tls-server-name)"))?;
        let provider = super::provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("TLS set-up failed: {err}"))?;
        let builder = if settings.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                    provider.signature_verification_algorithms,
                )))
        } else {
            let roots = match &settings.ca {
                Some(path) => pem::trust_store(path, "CA file")?,
                None => system_roots()?,
            };
            builder.with_root_certificates(roots)
        };
        let mut config = match &settings.identity {
            Some(pair) => {
                let (certs, key) = pair.load()?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|err| pair.misfit(&err))?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = settings.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        if !settings.resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Ok(ClientTls {
            config: Arc::new(config),
            server_name,
        })
    }

    pub fn connection(&self) -> Result<rustls::ClientConnection, rustls::Error> {
        rustls::ClientConnection::new(Arc::clone(&self.config), self.server_name.clone())
    }

    /// A handshake with `addr` that failed with `err`, in one line that
    /// says what to do next.
    pub fn describe_failure(&self, err: &std::io::Error, addr: impl std::fmt::Display) -> String {
        match crate::tls::session::tls_error(err) {
            Some(tls_err) => describe_handshake_error(tls_err, &addr.to_string(), &self.server_name.to_str()),
            None if err.kind() == std::io::ErrorKind::UnexpectedEof => format!(
                "{addr} closed the connection during the TLS handshake (is it a TLS server? leave out --tls for a plain one)"
            ),
            None => format!(
                "the TLS handshake with {addr} failed: {}",
                crate::error::describe(err)
            ),
        }
    }
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or("none found".to_string(), |err| err.to_string());
        return Err(format!(
            "cannot load the system's trusted certificates ({why}): give one with --tls-ca FILE"
        ));
    }
    Ok(roots)
}

/// A failed handshake, in words that say what to do next. `addr` names the
/// server; `name` is the name its certificate was checked against.
pub fn describe_handshake_error(err: &rustls::Error, addr: &str, name: &str) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(why) => {
            let (reason, hint) = match why {
                CertificateError::UnknownIssuer => (
                    "it is not signed by a trusted authority".to_string(),
                    "trust its CA with --tls-ca FILE, or skip the check with --tls-insecure",
                ),
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
                    format!("it is not valid for the name '{name}'"),
                    "ask for a name it holds with --tls-server-name NAME",
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                    "it has expired".to_string(),
                    "renew it, or skip the check with --tls-insecure",
                ),
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                    "it is not valid yet".to_string(),
                    "check the clocks, or skip the check with --tls-insecure",
                ),
                // webpki's own reasons come through as `Other`, named only in Debug.
                other if format!("{other:?}").contains("CaUsedAsEndEntity") => (
                    "it is a CA certificate, not a server's (basicConstraints CA:TRUE)".to_string(),
                    "serve a leaf certificate, or skip the check with --tls-insecure",
                ),
                other => (format!("{other:?}"), "skip the check with --tls-insecure"),
            };
            format!("the certificate of {addr} does not verify: {reason} ({hint})")
        }
        E::AlertReceived(alert) => describe_alert(*alert, addr)
            .unwrap_or_else(|| format!("{addr} refused the TLS handshake with the alert '{alert:?}'")),
        E::InappropriateHandshakeMessage { .. } | E::InappropriateMessage { .. } | E::InvalidMessage(_) => {
            format!(
                "{addr} does not speak TLS: it answered the TLS hello with something else ({err}); \
             leave out --tls for a plain server"
            )
        }
        other => format!("the TLS handshake with {addr} failed: {other}"),
    }
}

/// A server's alert about our client certificate (mutual TLS), in words
/// that say what to do; `None` for any other alert. Under TLS 1.3 it comes
/// after our side of the handshake is done, with the first read.
fn describe_alert(alert: rustls::AlertDescription, addr: impl std::fmt::Display) -> Option<String> {
    use rustls::AlertDescription as A;
    let why = match alert {
        A::CertificateRequired => {
            return Some(format!(
                "{addr} requires a client certificate: give one with --tls-cert and --tls-key"
            ));
        }
        A::UnknownCA => "it is not signed by a CA the server trusts",
        A::CertificateExpired => "it has expired or is not valid yet",
        A::CertificateRevoked => "it was revoked",
        A::BadCertificate | A::UnsupportedCertificate | A::CertificateUnknown => {
            "it is not valid for a client (key usage, or a broken chain)"
        }
        A::AccessDenied => "the server denies it access",
        _ => return None,
    };
    Some(format!(
        "{addr} refused our client certificate (alert '{alert:?}'): {why}"
    ))
}

/// [`describe_alert`] for an error from a session's read or write.
pub fn describe_alert_in(err: &std::io::Error, addr: impl std::fmt::Display) -> Option<String> {
    match crate::tls::session::tls_error(err)? {
        rustls::Error::AlertReceived(alert) => describe_alert(*alert, addr),
        _ => None,
    }
}

/// True when `reply` starts with a TLS alert record: a plain client
/// reached a TLS server, which answered its bytes with an alert.
pub fn looks_like_tls_alert(reply: &[u8]) -> bool {
    reply.len() >= 5 && could_be_tls_alert(&reply[..5])
}

/// An alert record's length: a 5-byte header (content type 21, version
/// 3.x, length 2), then the alert's level and description.
pub const ALERT_RECORD_LEN: usize = 7;

/// Whether `start` (at most [`ALERT_RECORD_LEN`] bytes) could begin a TLS
/// alert record.
pub fn could_be_tls_alert(start: &[u8]) -> bool {
    start.len() <= ALERT_RECORD_LEN
        && start.iter().enumerate().all(|(i, byte)| match i {
            0 => *byte == 0x15,
            1 => *byte == 0x03,
            2 => *byte <= 0x04,
            3 => *byte == 0x00,
            4 => *byte == 0x02,
            _ => true,
        })
}

/// `--tls-insecure`: any certificate, but still a real signature over the
/// handshake by the key in it (so the session is at least with its holder).
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_record_is_recognised_and_echoed_text_is_not() {
        assert!(looks_like_tls_alert(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]));
        assert!(!looks_like_tls_alert(b"hello\n"));
        assert!(!looks_like_tls_alert(&[0x15, 0x03]));
    }

    #[test]
    fn a_bad_server_name_and_a_missing_ca_file_are_one_line_errors() {
        let settings = ClientTlsSettings {
            server_name: Some("not a name!".into()),
            ..ClientTlsSettings::default()
        };
        let err = ClientTls::new(&settings, "localhost").err().unwrap();
        assert!(err.contains("not a valid TLS server name"), "{err}");
        let settings = ClientTlsSettings {
            ca: Some("/nonexistent/ca.pem".into()),
            ..ClientTlsSettings::default()
        };
        let err = ClientTls::new(&settings, "localhost").err().unwrap();
        assert!(
            err.starts_with("cannot use the CA file /nonexistent/ca.pem: "),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
    }

    #[test]
    fn certificate_errors_name_the_reason_and_the_flag_that_helps() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let text = describe_handshake_error(&unknown, "127.0.0.1:1", "localhost");
        assert!(
            text.contains("not signed by a trusted authority") && text.contains("--tls-ca"),
            "{text}"
        );
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        let text = describe_handshake_error(&name, "127.0.0.1:1", "example.org");
        assert!(
            text.contains("'example.org'") && text.contains("--tls-server-name"),
            "{text}"
        );
    }
}
