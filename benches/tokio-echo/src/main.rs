//! A tokio echo server on a `current_thread` runtime: read into a buffer,
//! `write_all` back, one task per connection. Prints `listening on ADDR`
//! like `mio-echo serve`, so the comparison script drives both alike.
//! Usage: tokio-echo [ADDR] [BUFFER_BYTES]   (default 127.0.0.1:0, 4096)

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_string());
    let buffer: usize = args.next().and_then(|b| b.parse().ok()).unwrap_or(4096);
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (mut stream, _) = accepted?;
                stream.set_nodelay(true)?;
                tokio::spawn(async move {
                    let mut buf = vec![0; buffer];
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
