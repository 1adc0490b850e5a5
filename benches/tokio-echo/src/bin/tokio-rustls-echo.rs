//! The tokio + tokio-rustls echo server a Rust user would write: one task
//! per connection on a `current_thread` runtime, read into a buffer,
//! `write_all` back, shut down (close_notify) at EOF. rustls with the ring
//! provider, as mio-echo. Prints `listening on ADDR` like `mio-echo serve`.
//! Usage: tokio-rustls-echo ADDR CERT_PEM KEY_PEM [BUFFER_BYTES]

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, cert, key, rest @ ..] = &args[..] else {
        return Err("usage: tokio-rustls-echo ADDR CERT_PEM KEY_PEM [BUFFER_BYTES]".into());
    };
    let buffer: usize = rest.first().and_then(|b| b.parse().ok()).unwrap_or(4096);
    let certs = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                stream.set_nodelay(true)?;
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else { return };
                    let mut buf = vec![0; buffer];
                    loop {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if tls.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    let _ = tls.shutdown().await;
                });
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
