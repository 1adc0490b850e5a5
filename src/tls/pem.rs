//! Certificates, keys and trust stores from PEM files, for the server and
//! the clients alike: each failure is one line that names the file, what
//! it was for, and why.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain and its key, from `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

impl KeyPair {
    pub fn load(&self) -> Result<Identity, String> {
        Ok((
            certificates(&self.cert, "certificate file")?,
            private_key(&self.key)?,
        ))
    }

    /// rustls's refusal of the pair (a key of another certificate), in words.
    pub fn misfit(&self, err: &rustls::Error) -> String {
        format!(
            "the key in {} does not fit the certificate in {}: {err}",
            self.key.display(),
            self.cert.display()
        )
    }
}

/// Every certificate in `path`; at least one. `what` says what the file is
/// for, in the error ("CA file", say).
pub fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |why: String| format!("cannot use the {what} {}: {why}", path.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|err| fail(reason(&err)))?
        .collect::<Result<_, _>>()
        .map_err(|err| fail(reason(&err)))?;
    if certs.is_empty() {
        return Err(fail("it holds no certificate".into()));
    }
    Ok(certs)
}

/// The certificates in `path` as a trust store (`--tls-ca`, `--tls-client-ca`).
pub fn trust_store(path: &Path, what: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, what)? {
        roots.add(cert).map_err(|err| {
            format!(
                "cannot use the {what} {}: a certificate in it is not usable: {err}",
                path.display()
            )
        })?;
    }
    Ok(roots)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| {
        let why = match err {
            pem::Error::NoItemsFound => "it holds no private key".to_string(),
            other => reason(&other),
        };
        format!("cannot use the key file {}: {why}", path.display())
    })
}

fn reason(err: &pem::Error) -> String {
    match err {
        pem::Error::Io(err) => crate::error::describe(err),
        pem::Error::NoItemsFound => "it holds no PEM item of that kind".into(),
        other => format!("malformed PEM ({other})"),
    }
}
