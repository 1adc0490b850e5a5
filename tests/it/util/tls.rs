//! TLS helpers for the integration tests: servers with certificates, and
//! certificate chains made by the `openssl` command (so that the keys and
//! certificates come from a program no one here wrote).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::ServerProcess;

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mio-echo-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// The path of `file` in it, as a command-line argument.
    pub fn file(&self, file: &str) -> String {
        self.path(file).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server with a self-signed certificate, written to `cert.pem` in `dir`.
pub fn self_signed_server(dir: &Scratch, args: &[&str]) -> (ServerProcess, PathBuf) {
    self_signed_server_with(dir, args, &[])
}

/// [`self_signed_server`] with environment variables (`RUST_LOG`, say).
pub fn self_signed_server_with(
    dir: &Scratch,
    args: &[&str],
    env: &[(&str, &str)],
) -> (ServerProcess, PathBuf) {
    let cert = dir.path("cert.pem");
    let mut all = vec!["--tls-self-signed", "--tls-write-cert", cert.to_str().unwrap()];
    all.extend_from_slice(args);
    let server = ServerProcess::start_with(&all, env);
    let line = server.second_line();
    assert!(line.starts_with("TLS certificate SHA-256 "), "{line}");
    (server, cert)
}

/// The kinds of key a server certificate can have.
#[derive(Debug, Clone, Copy)]
pub enum KeyKind {
    Rsa,
    Ecdsa,
    Ed25519,
}

fn new_key_args(kind: KeyKind) -> &'static [&'static str] {
    match kind {
        KeyKind::Rsa => &["-newkey", "rsa:2048"],
        KeyKind::Ecdsa => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        KeyKind::Ed25519 => &["-newkey", "ed25519"],
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Files of a chain made by OpenSSL: a root CA, an intermediate it signed,
/// and a leaf for `localhost` and 127.0.0.1 signed by the intermediate.
pub struct Chain {
    /// The root alone: what clients trust.
    pub ca: PathBuf,
    /// The leaf, then the intermediate: what the server sends.
    pub chain: PathBuf,
    pub key: PathBuf,
}

pub fn make_chain(dir: &Scratch, leaf: KeyKind) -> Chain {
    let d = &dir.0;
    let ca_ext = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
    let leaf_ext = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
                    extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n";
    std::fs::write(d.join("ca.ext"), ca_ext).unwrap();
    std::fs::write(d.join("leaf.ext"), leaf_ext).unwrap();
    root_ca(d, "ca", "/CN=mio-echo test root");
    request(d, "int", "/CN=mio-echo test intermediate", KeyKind::Ecdsa);
    sign(d, "int", "ca", "ca.ext");
    request(d, "leaf", "/CN=localhost", leaf);
    sign(d, "leaf", "int", "leaf.ext");
    let chain = [
        std::fs::read_to_string(d.join("leaf.pem")).unwrap(),
        std::fs::read_to_string(d.join("int.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(d.join("chain.pem"), chain).unwrap();
    Chain {
        ca: d.join("ca.pem"),
        chain: d.join("chain.pem"),
        key: d.join("leaf.key"),
    }
}

/// `openssl s_client` to `server`, trusting `ca`, asking for `localhost`,
/// closing at its input's EOF.
pub fn s_client(server: &ServerProcess, ca: &Path) -> Command {
    let mut command = Command::new("openssl");
    command
        .args([
            "s_client",
            "-quiet",
            "-no_ign_eof",
            "-verify_return_error",
            "-servername",
            "localhost",
            "-CAfile",
        ])
        .arg(ca)
        .args(["-connect", &server.addr.to_string()]);
    command
}

/// What every Python TLS client script starts with: `host`, `port` and
/// `cafile` from its arguments, and a context that trusts `cafile`.
const PYTHON_PREAMBLE: &str = "import socket, ssl, struct, sys
host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
";

/// Python running `script` (after [`PYTHON_PREAMBLE`]) with the server's
/// host, port and `ca` as arguments.
pub fn python(script: &str, server: &ServerProcess, ca: &Path) -> Command {
    let mut command = Command::new("python3");
    command
        .args([
            "-c",
            &format!("{PYTHON_PREAMBLE}{script}"),
            &server.addr.ip().to_string(),
            &server.addr.port().to_string(),
        ])
        .arg(ca);
    command
}

/// Sends `line` through `openssl s_client` (made by [`s_client`], with
/// `extra` arguments) and reads the echoed line before closing its input
/// (its EOF ends s_client at once, echo or not). Returns whether it exited
/// successfully, the line that came back, and its stderr.
pub fn s_client_echo(
    server: &ServerProcess,
    ca: &Path,
    extra: &[&str],
    line: &str,
) -> (bool, String, String) {
    use std::io::{BufRead, Read, Write};
    use std::process::Stdio;
    let mut client = s_client(server, ca)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    let mut input = client.stdin.take().unwrap();
    let _ = input.write_all(line.as_bytes());
    let mut out = std::io::BufReader::new(client.stdout.take().unwrap());
    let mut echoed = String::new();
    let _ = out.read_line(&mut echoed);
    drop(input);
    let status = super::wait_child(&mut client);
    let mut err = String::new();
    client.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.success(), echoed, err)
}

/// Client certificates for mutual TLS, made by OpenSSL: a CA the server
/// trusts, a good leaf it signed, a leaf from another CA, and one it
/// signed that expired in 2020. Each leaf is `(certificate, key)`.
pub struct ClientCerts {
    pub ca: PathBuf,
    pub good: (PathBuf, PathBuf),
    pub wrong_ca: (PathBuf, PathBuf),
    pub expired: (PathBuf, PathBuf),
}

/// A self-signed CA, `NAME.pem` with its key `NAME.key` (ECDSA P-256).
fn root_ca(d: &Path, name: &str, subject: &str) {
    let mut args = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", subject];
    args.extend_from_slice(new_key_args(KeyKind::Ecdsa));
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    args.extend_from_slice(&[
        "-keyout",
        &key,
        "-out",
        &pem,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&args, d);
}

/// A certificate request, `NAME.csr`, with a new key of `kind` in `NAME.key`.
fn request(d: &Path, name: &str, subject: &str, kind: KeyKind) {
    let mut args = vec!["req", "-new", "-nodes", "-subj", subject];
    args.extend_from_slice(new_key_args(kind));
    let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
    args.extend_from_slice(&["-keyout", &key, "-out", &csr]);
    openssl(&args, d);
}

/// `NAME.csr` signed by the CA `CA.pem` (key `CA.key`) with the
/// extensions in `extfile`, for two days: `NAME.pem`.
fn sign(d: &Path, name: &str, ca: &str, extfile: &str) {
    let (csr, pem) = (format!("{name}.csr"), format!("{name}.pem"));
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            extfile,
            "-out",
            &pem,
        ],
        d,
    );
}

/// A client leaf's request, `NAME.csr` and `NAME.key`, for `/CN=NAME`.
fn client_request(d: &Path, name: &str) {
    request(d, name, &format!("/CN={name}/O=mio-echo tests"), KeyKind::Ecdsa);
}

pub fn make_client_certs(dir: &Scratch) -> ClientCerts {
    let d = &dir.0;
    std::fs::write(
        d.join("client.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    // Names of their own: a CA of the same name would be taken for the
    // trusted one, and its leaves fail its signature instead.
    root_ca(d, "client-ca", "/CN=mio-echo test client-ca");
    root_ca(d, "other-ca", "/CN=mio-echo test other-ca");
    for (name, ca) in [("alice", "client-ca"), ("mallory", "other-ca")] {
        client_request(d, name);
        sign(d, name, ca, "client.ext");
    }
    // `openssl x509` cannot date a certificate in the past; `openssl ca` can.
    client_request(d, "old-bob");
    std::fs::write(
        d.join("ca.cnf"),
        "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
         default_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n",
    )
    .unwrap();
    std::fs::write(d.join("index.txt"), "").unwrap();
    std::fs::write(d.join("serial"), "01\n").unwrap();
    openssl(
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "client-ca.pem",
            "-keyfile",
            "client-ca.key",
            "-in",
            "old-bob.csr",
            "-out",
            "old-bob.pem",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-extfile",
            "client.ext",
        ],
        d,
    );
    let leaf = |name: &str| (d.join(format!("{name}.pem")), d.join(format!("{name}.key")));
    ClientCerts {
        ca: d.join("client-ca.pem"),
        good: leaf("alice"),
        wrong_ca: leaf("mallory"),
        expired: leaf("old-bob"),
    }
}
