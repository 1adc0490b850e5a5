//! The clients' TLS flags, the same for `send`, `chat` and `bench`.

use clap::Args;

use super::address::Endpoint;
use super::values::Failure;
use crate::tls::client::{ClientTls, ClientTlsSettings};
use crate::tls::pem::KeyPair;

#[derive(Debug, Args)]
pub struct TlsClientArgs {
    /// Speak TLS
    ///
    /// The server's certificate is verified against the system's trusted roots (or --tls-ca).
    #[arg(long)]
    pub tls: bool,

    /// Trust the certificates in FILE (PEM)
    ///
    /// Such as the one `serve --tls-write-cert` saves, instead of the system's roots.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub tls_ca: Option<std::path::PathBuf>,

    /// The name to ask for (SNI) and to verify
    ///
    /// [default: the host of --addr]
    #[arg(long, value_name = "NAME", requires = "tls")]
    pub tls_server_name: Option<String>,

    /// Do not verify the server's certificate
    ///
    /// Said on stderr: for test servers only.
    #[arg(long, requires = "tls", conflicts_with = "tls_ca")]
    pub tls_insecure: bool,

    /// Offer these ALPN protocols, in order of preference (comma-separated)
    #[arg(
        long = "tls-alpn",
        value_name = "PROTO,...",
        value_delimiter = ',',
        requires = "tls"
    )]
    pub tls_alpn: Vec<String>,

    /// Show this certificate chain (PEM) to a server that asks for one (mutual TLS)
    ///
    /// Its private key comes from --tls-key.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "tls_key"])]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key of --tls-cert (PEM: RSA, ECDSA or Ed25519)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl TlsClientArgs {
    /// The client's TLS configuration, or `None` without `--tls`.
    /// `resume`: keep sessions to resume them (bench's `--tls-resume`).
    pub fn client_tls(&self, endpoint: &Endpoint, resume: bool) -> Result<Option<ClientTls>, Failure> {
        if !self.tls {
            return Ok(None);
        }
        if self.tls_insecure {
            eprintln!("warning: --tls-insecure: the server's certificate is not verified");
        }
        let settings = ClientTlsSettings {
            ca: self.tls_ca.clone(),
            server_name: self.tls_server_name.clone(),
            insecure: self.tls_insecure,
            alpn: self.tls_alpn.clone(),
            resume,
            identity: self
                .tls_cert
                .clone()
                .zip(self.tls_key.clone())
                .map(|(cert, key)| KeyPair { cert, key }),
        };
        let host = endpoint
            .addr
            .as_ref()
            .map_or_else(|| "127.0.0.1".to_string(), |addr| addr.host.clone());
        Ok(Some(ClientTls::new(&settings, &host)?))
    }
}
