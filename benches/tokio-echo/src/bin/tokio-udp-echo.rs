//! The tokio UDP echo server a Rust user would write: one `UdpSocket` on a
//! `current_thread` runtime, `recv_from` then `send_to`, one datagram per
//! system call each way. Prints `listening on ADDR` like `mio-echo serve`.
//! Usage: tokio-udp-echo [ADDR]   (default 127.0.0.1:0)

use tokio::net::UdpSocket;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_string());
    let socket = UdpSocket::bind(&addr).await?;
    println!("listening on {}", socket.local_addr()?);
    let mut buf = vec![0; 65_536];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                // An ICMP error for an earlier reply shows here: go on.
                let Ok((n, from)) = received else { continue };
                let _ = socket.send_to(&buf[..n], from).await;
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
