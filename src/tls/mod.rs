//! TLS for the echo server (`serve --tls-cert/--tls-key` or
//! `--tls-self-signed`), with rustls and the ring provider.

pub mod config;
pub mod echo;
