//! The server's TLS settings: a certificate chain and key from PEM files
//! (`--tls-cert`, `--tls-key`) or a fresh self-signed certificate
//! (`--tls-self-signed`), made into one rustls `ServerConfig` with the ring
//! provider, TLS 1.2 and 1.3.
//!
//! Every start-up failure is one line naming the file and the reason, so
//! the server never starts half-configured.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Made at start for the listen address and `localhost`.
    SelfSigned {
        write_cert: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub identity: Identity,
    /// ALPN protocols offered, in order of preference.
    pub alpn: Vec<String>,
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
        Identity::Files { cert, key } => (read_certs(cert)?, read_key(key)?),
        Identity::SelfSigned { write_cert } => self_signed(listen, write_cert.as_deref())?,
    };
    let fingerprint = sha256_hex(&certs[0]);
    let provider = super::provider();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS set-up failed: {err}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| match &settings.identity {
            Identity::Files { cert, key } => format!(
                "the key in {} does not fit the certificate in {}: {err}",
                key.display(),
                cert.display()
            ),
            Identity::SelfSigned { .. } => format!("TLS set-up failed: {err}"),
        })?;
    config.alpn_protocols = settings.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config.cert_resolver = Arc::new(LogClientHello(Arc::clone(&config.cert_resolver)));
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint,
    })
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

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |why: String| format!("cannot use the certificate file {}: {why}", path.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|err| fail(pem_reason(&err)))?
        .collect::<Result<_, _>>()
        .map_err(|err| fail(pem_reason(&err)))?;
    if certs.is_empty() {
        return Err(fail("it holds no certificate".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| {
        let why = match err {
            pem::Error::NoItemsFound => "it holds no private key".to_string(),
            other => pem_reason(&other),
        };
        format!("cannot use the key file {}: {why}", path.display())
    })
}

pub(super) fn pem_reason(err: &pem::Error) -> String {
    match err {
        pem::Error::Io(err) => crate::error::describe(err),
        pem::Error::NoItemsFound => "it holds no PEM item of that kind".into(),
        other => format!("malformed PEM ({other})"),
    }
}

type Identity2 = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// An ECDSA P-256 certificate for `listen`'s address and `localhost`.
fn self_signed(listen: SocketAddr, write_cert: Option<&Path>) -> Result<Identity2, String> {
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
        };
        let loaded = load(&settings, listen()).unwrap();
        assert_eq!(loaded.fingerprint.len(), 32 * 3 - 1, "{}", loaded.fingerprint);
        assert_eq!(loaded.config.alpn_protocols, [b"echo".to_vec()]);
        // The written certificate loads back, with the same fingerprint.
        let certs = read_certs(&written).unwrap();
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
            identity: Identity::Files {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            },
            alpn: Vec::new(),
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
        let _ = std::fs::remove_dir_all(&dir);
    }
}
