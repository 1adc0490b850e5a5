//! The server's TLS settings: a certificate chain and key from PEM files
//! (`--tls-cert`, `--tls-key`) or a fresh self-signed certificate
//! (`--tls-self-signed`), and whether clients must show a certificate of
//! their own (`--tls-client-ca`, mutual TLS), made into one rustls
//! `ServerConfig` with the ring provider, TLS 1.2 and 1.3.
//!
//! Every start-up failure is one line naming the file and the reason, so
//! the server never starts half-configured.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

use super::pem::{self, KeyPair};

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Files(KeyPair),
    /// Made at start for the listen address and `localhost`.
    SelfSigned {
        write_cert: Option<PathBuf>,
    },
}

/// Whether clients show certificates, and whom they must be signed by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// None is asked for (plain server-authenticated TLS).
    #[default]
    Off,
    /// `--tls-client-ca FILE`: a client without a certificate that
    /// verifies against FILE is refused.
    Required(PathBuf),
    /// `--tls-client-ca-optional`: one is asked for; a client may send
    /// none, but one it sends must verify.
    Optional(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub identity: Identity,
    /// ALPN protocols offered, in order of preference.
    pub alpn: Vec<String>,
    pub client_auth: ClientAuth,
}

/// A ready server configuration, and the certificate's SHA-256
/// fingerprint (hex, colon-separated) to print at start.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Arc<ServerConfig>,
    pub fingerprint: String,
}

pub fn load(settings: &TlsSettings, listen: SocketAddr) -> Result<Loaded, String> {
    let (certs, key) = match &settings.identity {
        Identity::Files(pair) => pair.load()?,
        Identity::SelfSigned { write_cert } => self_signed(listen, write_cert.as_deref())?,
    };
    let fingerprint = sha256_hex(&certs[0]);
    let provider = super::provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS set-up failed: {err}"))?;
    let builder = match client_verifier(&settings.client_auth, provider)? {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|err| match &settings.identity {
            Identity::Files(pair) => pair.misfit(&err),
            Identity::SelfSigned { .. } => format!("TLS set-up failed: {err}"),
        })?;
    config.alpn_protocols = settings.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config.cert_resolver = Arc::new(LogClientHello(Arc::clone(&config.cert_resolver)));
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint,
    })
}

fn client_verifier(
    auth: &ClientAuth,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, String> {
    let (path, optional) = match auth {
        ClientAuth::Off => return Ok(None),
        ClientAuth::Required(path) => (path, false),
        ClientAuth::Optional(path) => (path, true),
    };
    let roots = pem::trust_store(path, "client CA file")?;
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    let verifier = builder
        .build()
        .map_err(|err| format!("cannot use the client CA file {}: {err}", path.display()))?;
    Ok(Some(verifier))
}

/// Whether `err`, a failed handshake on the server's side, is the client's
/// certificate refused (none sent where one is required, or one that does
/// not verify), as opposed to a broken or hostile session.
pub fn refuses_client_certificate(err: &rustls::Error) -> bool {
    matches!(
        err,
        rustls::Error::NoCertificatesPresented | rustls::Error::InvalidCertificate(_)
    )
}

/// The subject of the client's certificate, for the log (a certificate
/// X.509 parsers cannot read is named as such rather than trusted less).
pub fn subject(cert: &CertificateDer<'_>) -> String {
    match x509_parser::parse_x509_certificate(cert.as_ref()) {
        Ok((_, parsed)) => crate::error::escape_peer_bytes(parsed.subject().to_string().as_bytes()),
        Err(_) => "(unreadable subject)".into(),
    }
}

/// Logs the SNI name and the ALPN protocols of each ClientHello at debug
/// (what a balancer routing by SNI passed on is the first thing to check),
/// then lets the real resolver pick the certificate.
#[derive(Debug)]
struct LogClientHello(Arc<dyn ResolvesServerCert>);

impl ResolvesServerCert for LogClientHello {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if log::log_enabled!(log::Level::Debug) {
            let alpn: Vec<String> = hello
                .alpn()
                .into_iter()
                .flatten()
                .map(crate::error::escape_peer_bytes)
                .collect();
            log::debug!(
                "TLS hello: SNI {}, ALPN offered [{}]",
                hello
                    .server_name()
                    .map_or("(none)".into(), |name| crate::error::escape_peer_bytes(
                        name.as_bytes()
                    )),
                alpn.join(", ")
            );
        }
        self.0.resolve(hello)
    }
}

/// An ECDSA P-256 certificate for `listen`'s address and `localhost`.
fn self_signed(listen: SocketAddr, write_cert: Option<&Path>) -> Result<pem::Identity, String> {
    let mut names = vec!["localhost".to_string()];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|err| format!("cannot make a certificate: {err}"))?;
    if let Some(path) = write_cert {
        std::fs::write(path, made.cert.pem()).map_err(|err| {
            format!(
                "cannot write the certificate to {}: {}",
                path.display(),
                crate::error::describe(&err)
            )
        })?;
    }
    let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
        .map_err(|err| format!("cannot use the made key: {err}"))?;
    Ok((vec![made.cert.der().clone()], key))
}

fn sha256_hex(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn a_self_signed_certificate_is_made_and_written() {
        let dir = std::env::temp_dir().join(format!("mio-echo-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = dir.join("cert.pem");
        let settings = TlsSettings {
            identity: Identity::SelfSigned {
                write_cert: Some(written.clone()),
            },
            alpn: vec!["echo".into()],
            client_auth: ClientAuth::Off,
        };
        let loaded = load(&settings, listen()).unwrap();
        assert_eq!(loaded.fingerprint.len(), 32 * 3 - 1, "{}", loaded.fingerprint);
        assert_eq!(loaded.config.alpn_protocols, [b"echo".to_vec()]);
        // The written certificate loads back, with the same fingerprint.
        let certs = pem::certificates(&written, "certificate file").unwrap();
        assert_eq!(sha256_hex(&certs[0]), loaded.fingerprint);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_files_are_one_line_naming_the_file_and_why() {
        let dir = std::env::temp_dir().join(format!("mio-echo-tls-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let missing = dir.join("missing.pem");
        let files = |cert: &Path, key: &Path| TlsSettings {
            identity: Identity::Files(KeyPair {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }),
            alpn: Vec::new(),
            client_auth: ClientAuth::Off,
        };
        let err = |settings: TlsSettings| load(&settings, listen()).err().unwrap();
        let e = err(files(&missing, &empty));
        assert!(
            e.starts_with(&format!(
                "cannot use the certificate file {}: ",
                missing.display()
            )),
            "{e}"
        );
        let e = err(files(&empty, &empty));
        assert!(e.ends_with("it holds no certificate"), "{e}");
        // A real certificate, with a key from another one.
        let made = dir.join("made.pem");
        load(
            &TlsSettings {
                identity: Identity::SelfSigned {
                    write_cert: Some(made.clone()),
                },
                alpn: Vec::new(),
                client_auth: ClientAuth::Off,
            },
            listen(),
        )
        .unwrap();
        let e = err(files(&made, &empty));
        assert!(e.ends_with("it holds no private key"), "{e}");
        let other_key = dir.join("other.key");
        std::fs::write(&other_key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let e = err(files(&made, &other_key));
        assert!(
            e.starts_with("the key in ") && e.contains("does not fit the certificate"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
        // A client CA file with no certificate in it.
        let e = err(TlsSettings {
            identity: Identity::SelfSigned { write_cert: None },
            alpn: Vec::new(),
            client_auth: ClientAuth::Required(empty.clone()),
        });
        assert_eq!(
            e,
            format!(
                "cannot use the client CA file {}: it holds no certificate",
                empty.display()
            )
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
