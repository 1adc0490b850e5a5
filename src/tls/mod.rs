//! TLS with rustls and the ring provider: the server's settings
//! (`serve --tls-cert/--tls-key` or `--tls-self-signed`, and
//! `--tls-client-ca` for mutual TLS: [`config`]; the echo itself is a
//! service, `crate::service::tls_echo`) and the clients' (`--tls` of send,
//! chat and bench: [`client`] for whom to trust and which certificate to
//! show, [`session`] for a session over a non-blocking socket); both read
//! their PEM files through [`pem`].

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub mod client;
pub mod config;
pub mod pem;
pub mod session;

/// The one crypto provider, for the server and every client alike.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
