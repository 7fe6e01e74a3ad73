//! A small fake of the GitLab runner API endpoints runnerctl uses, written from GitLab's REST
//! API documentation:
//!
//! - "Verify authentication for a registered runner" (`runnerctl doctor`):
//!   `POST /api/v4/runners/verify` with the attribute `token` (and optional `system_id`)
//!   answers 200 with `{"id", "token", "token_expires_at"}` when the token is valid and 403
//!   when it is not;
//! - "Delete a registered runner manager" (the entrypoint, when a runner pod stops):
//!   `DELETE /api/v4/runners/managers` with the attributes `token` and `system_id` answers 204
//!   (no body) when the token is valid, 403 when it is not, 400 when an attribute is missing.
//!
//! - "Reset runner's authentication token by using the current token" (`runnerctl token
//!   rotate`): `POST /api/v4/runners/reset_authentication_token` with `token` answers 201 with
//!   `{"token", "token_expires_at"}`; the old token stops working at once;
//! - "List runner's managers" (`runnerctl managers`): `GET /api/v4/runners/:id/managers` with a
//!   user's access token in the `PRIVATE-TOKEN` header answers 200 with the managers (`id`,
//!   `system_id`, `created_at`, `contacted_at`, `ip_address`, `status`), 401 without a valid
//!   access token, 404 for another runner.
//!
//! The fake keeps state: the one valid runner token (rotation replaces it), its expiry, the
//! managers (deleting one removes it), and statuses to answer next whatever is asked (for
//! 401/403/404/429). Any other method or path answers 404. Every request is recorded, in
//! order, with the time it arrived. Plain http, or https with a certificate made by the openssl command (a CA and a
//! leaf for 127.0.0.1).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject as _;
use serde_json::{Value, json};

/// The token the fake accepts until it is rotated.
pub const VALID_TOKEN: &str = "glrt-fake-VALID-0123456789";
/// The user access token the fake accepts (`PRIVATE-TOKEN`).
pub const ACCESS_TOKEN: &str = "glpat-fake-ACCESS-0123456789";

/// What the fake knows; tests may change it.
#[derive(Debug, Clone)]
pub struct State {
    /// The runner token GitLab accepts now.
    pub token: String,
    /// Its expiry (`None`: never).
    pub expires_at: Option<String>,
    /// The runner's managers (JSON objects as GitLab lists them).
    pub managers: Vec<Value>,
    /// Statuses to answer the next requests with, whatever they ask (front first).
    pub fail_next: Vec<u16>,
    /// How many rotations so far.
    pub rotations: u32,
}

impl Default for State {
    fn default() -> Self {
        State {
            token: VALID_TOKEN.to_string(),
            expires_at: None,
            managers: Vec::new(),
            fail_next: Vec::new(),
            rotations: 0,
        }
    }
}
/// The runner id the fake answers with.
pub const RUNNER_ID: i64 = 12345;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, `DELETE`, ...
    pub method: String,
    /// The path, e.g. `/api/v4/runners/verify`.
    pub path: String,
    /// The JSON body (`null` when there was none or it was not JSON).
    pub body: Value,
    /// The `PRIVATE-TOKEN` header, if sent.
    pub private_token: Option<String>,
    /// When it arrived.
    pub at: SystemTime,
}

/// A running fake: its address and the requests it received.
pub struct FakeGitlab {
    /// `http://127.0.0.1:PORT` or `https://...`.
    pub url: String,
    /// Each request, in the order they arrived.
    pub requests: Arc<Mutex<Vec<Request>>>,
    /// What the fake knows.
    pub state: Arc<Mutex<State>>,
}

/// The answer to one request: a status and a JSON body (`None`: no body).
fn answer(state: &mut State, request: &Request) -> (u16, Option<Value>) {
    if !state.fail_next.is_empty() {
        let status = state.fail_next.remove(0);
        return (
            status,
            Some(json!({"message": format!("{status} injected")})),
        );
    }
    let body = &request.body;
    let token = body.get("token").and_then(Value::as_str);
    let valid = token == Some(state.token.as_str());
    let forbidden = (403, Some(json!({"message": "403 Forbidden"})));
    let managers_path = format!("/api/v4/runners/{RUNNER_ID}/managers");
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/api/v4/runners/verify") if valid => (
            200,
            Some(
                json!({"id": RUNNER_ID, "token": state.token, "token_expires_at": state.expires_at}),
            ),
        ),
        ("POST", "/api/v4/runners/reset_authentication_token") if valid => {
            state.rotations += 1;
            state.token = format!("glrt-fake-ROTATED{}-0123456789", state.rotations);
            (
                201,
                Some(json!({"token": state.token, "token_expires_at": state.expires_at})),
            )
        }
        ("POST", "/api/v4/runners/verify" | "/api/v4/runners/reset_authentication_token") => {
            forbidden
        }
        ("GET", path) if path.starts_with("/api/v4/runners/") && path.ends_with("/managers") => {
            if request.private_token.as_deref() != Some(ACCESS_TOKEN) {
                (401, Some(json!({"message": "401 Unauthorized"})))
            } else if path != managers_path {
                (404, Some(json!({"message": "404 Runner Not Found"})))
            } else {
                (200, Some(Value::Array(state.managers.clone())))
            }
        }
        ("DELETE", "/api/v4/runners/managers") => {
            let system_id = body.get("system_id").and_then(Value::as_str);
            match (token, system_id) {
                (Some(_), Some(id)) if valid => {
                    state.managers.retain(|m| m["system_id"] != id);
                    (204, None)
                }
                (Some(_), Some(_)) => forbidden,
                _ => (
                    400,
                    Some(json!({"error": "token is missing, system_id is missing"})),
                ),
            }
        }
        _ => (404, Some(json!({"message": "404 Not Found"}))),
    }
}

/// Read one HTTP/1.1 request (headers, then Content-Length bytes of body).
fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0;
    let mut private_token = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("private-token") {
                private_token = Some(v.trim().to_string());
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        body: serde_json::from_slice(&body).unwrap_or_default(),
        private_token,
        at: SystemTime::now(),
    })
}

/// Answers `request` on `stream` and records it in `seen`.
fn serve(stream: &mut (impl Read + Write), seen: &Mutex<Vec<Request>>, state: &Mutex<State>) {
    let Some(request) = read_request(stream) else {
        return;
    };
    let (status, body) = answer(&mut state.lock().unwrap(), &request);
    seen.lock().unwrap().push(request);
    let head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
    let _ = match body {
        Some(body) => {
            let text = body.to_string();
            write!(
                stream,
                "{head}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )
        }
        None => write!(stream, "{head}\r\n"),
    };
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
        let state = Arc::new(Mutex::new(State::default()));
        let known = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut tcp) = stream else { continue };
                let seen = seen.clone();
                let known = known.clone();
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    None => serve(&mut tcp, &seen, &known),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        let mut s = rustls::StreamOwned::new(conn, tcp);
                        serve(&mut s, &seen, &known);
                        s.conn.send_close_notify();
                        let _ = s.flush();
                    }
                });
            }
        });
        FakeGitlab {
            url: format!("{scheme}://127.0.0.1:{port}"),
            requests,
            state,
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
