//! A small fake of the one GitLab runner API endpoint `runnerctl doctor` calls, written from
//! GitLab's REST API documentation ("Verify authentication for a registered runner"):
//! `POST /api/v4/runners/verify` with the attribute `token` (and optional `system_id`)
//! answers 200 with `{"id", "token", "token_expires_at"}` when the token is valid and 403
//! when it is not. Any other path answers 404. Plain http, or https with a certificate made
//! by the openssl command (a CA and a leaf for 127.0.0.1).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject as _;

/// The token the fake accepts.
pub const VALID_TOKEN: &str = "glrt-fake-VALID-0123456789";
/// The runner id the fake answers with.
pub const RUNNER_ID: i64 = 12345;

/// A running fake: its address and the request bodies it received.
pub struct FakeGitlab {
    /// `http://127.0.0.1:PORT` or `https://...`.
    pub url: String,
    /// Each request: method, path and JSON body.
    pub requests: Arc<Mutex<Vec<(String, String, serde_json::Value)>>>,
}

/// The answer to one request.
fn answer(method: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    if method != "POST" || path != "/api/v4/runners/verify" {
        return (404, serde_json::json!({"message": "404 Not Found"}));
    }
    match body.get("token").and_then(|t| t.as_str()) {
        Some(VALID_TOKEN) => (
            200,
            serde_json::json!({"id": RUNNER_ID, "token": VALID_TOKEN, "token_expires_at": null}),
        ),
        _ => (403, serde_json::json!({"message": "403 Forbidden"})),
    }
}

/// Read one HTTP/1.1 request (headers, then Content-Length bytes of body).
fn read_request(stream: &mut impl Read) -> Option<(String, String, serde_json::Value)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((
        method,
        path,
        serde_json::from_slice(&body).unwrap_or_default(),
    ))
}

fn respond(stream: &mut impl Write, status: u16, body: &serde_json::Value) {
    let text = body.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.flush();
}

impl FakeGitlab {
    /// Start a plain-http fake on 127.0.0.1.
    pub fn http() -> FakeGitlab {
        Self::start(None)
    }

    /// Start an https fake on 127.0.0.1 with a certificate from a fresh CA; the CA's PEM
    /// is in `dir/ca.crt`.
    pub fn https(dir: &Path) -> FakeGitlab {
        let (cert, key) = make_certs(dir);
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Self::start(Some(Arc::new(config)))
    }

    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> FakeGitlab {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut tcp) = stream else { continue };
                let seen = seen.clone();
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    None => {
                        if let Some((m, p, b)) = read_request(&mut tcp) {
                            let (status, body) = answer(&m, &p, &b);
                            seen.lock().unwrap().push((m, p, b));
                            respond(&mut tcp, status, &body);
                        }
                    }
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        let mut s = rustls::StreamOwned::new(conn, tcp);
                        if let Some((m, p, b)) = read_request(&mut s) {
                            let (status, body) = answer(&m, &p, &b);
                            seen.lock().unwrap().push((m, p, b));
                            respond(&mut s, status, &body);
                            s.conn.send_close_notify();
                            let _ = s.flush();
                        }
                    }
                });
            }
        });
        FakeGitlab {
            url: format!("{scheme}://127.0.0.1:{port}"),
            requests,
        }
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (the test certificates are made with it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`dir/ca.crt`) and a leaf for 127.0.0.1 signed by it; returns (leaf, key) paths.
fn make_certs(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let p = |n: &str| dir.join(n).display().to_string();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    let (ca_key, ca_crt) = (p("ca.key"), p("ca.crt"));
    ca.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca_crt,
        "-days",
        "2",
        "-subj",
        "/CN=runnerctl test CA",
    ]);
    openssl(&ca);
    let (key, csr, crt, ext) = (p("leaf.key"), p("leaf.csr"), p("leaf.crt"), p("leaf.ext"));
    let mut req = vec!["req"];
    req.extend(ec);
    req.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
    openssl(&req);
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca_crt,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &crt,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
    (PathBuf::from(crt), PathBuf::from(key))
}
