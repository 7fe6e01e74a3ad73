//! GitLab's runner API as runnerctl uses it, on hyper (the HTTP stack kube already brings) with
//! rustls trusting the system roots plus the CA the runner is given (`certsSecretName`):
//!
//! - [`Client::verify`]: `POST /api/v4/runners/verify` (token): the runner's id and the token's
//!   expiry, or 403;
//! - [`Client::reset_token`]: `POST /api/v4/runners/reset_authentication_token` (token): a new
//!   token and its expiry (the old one stops working);
//! - [`Client::managers`]: `GET /api/v4/runners/:id/managers` with a user's access token;
//! - [`Client::delete_manager`]: `DELETE /api/v4/runners/managers` (token, system_id).
//!
//! Facts from GitLab's REST API documentation ("Runners API"). Tokens travel in request
//! bodies or the `PRIVATE-TOKEN` header, never in a URL, and never appear in an error, a Debug
//! print or a log line: [`Token`] holds them.
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use k8s_openapi::jiff;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Where GitLab is, from `gitlabUrl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabEndpoint {
    /// `https` or `http`.
    pub scheme: String,
    /// The host name or address.
    pub host: String,
    /// The port (443 or 80 unless given).
    pub port: u16,
    /// The path GitLab is served under, without a trailing `/` (usually empty).
    pub path: String,
}

impl GitlabEndpoint {
    /// Parse a GitLab URL; `None` when it is not an http(s) URL with a host.
    pub fn parse(url: &str) -> Option<GitlabEndpoint> {
        let uri: http::Uri = url.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let host = uri
            .host()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Some(GitlabEndpoint {
            scheme,
            host,
            port: uri.port_u16().unwrap_or(default_port),
            path: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// `gitlabUrl` of the values.
    pub fn from_values(values: &Value) -> Option<GitlabEndpoint> {
        GitlabEndpoint::parse(values.get("gitlabUrl")?.as_str()?)
    }

    /// Whether the connection is TLS.
    pub fn tls(&self) -> bool {
        self.scheme == "https"
    }

    /// `host[:port]`, the port only when it is not the scheme's.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match (self.tls(), self.port) {
            (true, 443) | (false, 80) => host,
            _ => format!("{host}:{}", self.port),
        }
    }
}

/// The CA the runner adds to the system roots for GitLab (`certsSecretName`).
#[derive(Debug, Clone, Default)]
pub struct GitlabCa {
    /// PEM certificates.
    pub(crate) pem: Option<Vec<u8>>,
    /// Where they came from, e.g. `Secret ci/certs key gitlab.example.com.crt`.
    pub(crate) from: Option<String>,
    /// Why a configured CA could not be used.
    pub(crate) problem: Option<String>,
}

impl GitlabCa {
    /// PEM certificates from `from` (e.g. a file or a Secret's key).
    pub fn from_pem(pem: impl Into<Vec<u8>>, from: impl Into<String>) -> GitlabCa {
        GitlabCa {
            pem: Some(pem.into()),
            from: Some(from.into()),
            problem: None,
        }
    }

    /// A CA that was asked for but cannot be used, and why.
    pub fn unusable(problem: impl Into<String>) -> GitlabCa {
        GitlabCa {
            problem: Some(problem.into()),
            ..Default::default()
        }
    }
}

/// A token (runner or user): shown nowhere, not even in a Debug print.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wrap a token.
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into().trim().to_string())
    }

    /// The token itself, for the one place that must send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::secret::REDACTED)
    }
}

/// Why a request to GitLab failed. Messages never hold a token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host name does not resolve.
    #[error("{0}")]
    Dns(String),
    /// No TCP connection.
    #[error("{0}")]
    Tcp(String),
    /// TLS failed (in GitLab Runner's words where it has them).
    #[error("{0}")]
    Tls(String),
    /// The HTTP exchange failed or took too long.
    #[error("{0}")]
    Http(String),
    /// GitLab answered with an unexpected status.
    #[error("{what} answered {status}{}", detail(.message))]
    Status {
        /// `POST /api/v4/runners/verify`, ...
        what: String,
        /// The HTTP status.
        status: u16,
        /// GitLab's `message` or `error`, if it gave one (never echoes a token).
        message: Option<String>,
    },
}

fn detail(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

impl Error {
    /// The HTTP status, for a [`Error::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A byte stream to GitLab, TLS or not.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Resolve, connect and (for https) complete TLS trusting the system roots plus `ca`; each
/// step bounded by `timeout`. Errors say which step failed.
async fn connect(
    g: &GitlabEndpoint,
    ca: &GitlabCa,
    timeout: Duration,
) -> Result<Box<dyn Stream>, Error> {
    let within = |what: &str| format!("{what} took longer than {}s", timeout.as_secs());
    let addrs: Vec<std::net::SocketAddr> =
        tokio::time::timeout(timeout, tokio::net::lookup_host((g.host.as_str(), g.port)))
            .await
            .map_err(|_| Error::Dns(within("resolving")))?
            .map_err(|e| Error::Dns(format!("{} does not resolve: {e}", g.host)))?
            .collect();
    let mut last = String::new();
    let mut tcp = None;
    for addr in &addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
            Ok(Err(e)) => last = format!("connecting to {addr}: {e}"),
            Err(_) => last = within(&format!("connecting to {addr}")),
        }
    }
    let tcp = tcp.ok_or(Error::Tcp(last))?;
    if !g.tls() {
        return Ok(Box::new(tcp));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(pem) = &ca.pem {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .filter_map(Result::ok)
            .collect();
        roots.add_parsable_certificates(certs);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(g.host.clone())
        .map_err(|e| Error::Tls(format!("{} is not a valid TLS name: {e}", g.host)))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => Err(Error::Tls(within("the TLS handshake"))),
        Ok(Err(e)) => Err(Error::Tls(tls_reason(&e))),
        Ok(Ok(s)) => Ok(Box::new(s)),
    }
}

/// Whether GitLab can be reached: DNS, TCP and TLS, nothing sent.
pub async fn reach(g: &GitlabEndpoint, ca: &GitlabCa, timeout: Duration) -> Result<(), Error> {
    connect(g, ca, timeout).await.map(drop)
}

/// A TLS failure as the runner (Go's crypto/x509) words it, so it matches what users search.
fn tls_reason(e: &std::io::Error) -> String {
    use rustls::CertificateError as C;
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(C::UnknownIssuer)) => {
            "x509: certificate signed by unknown authority".into()
        }
        Some(rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. })) => {
            "x509: certificate has expired or is not yet valid".into()
        }
        Some(rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        )) => "x509: certificate is not valid for this name".into(),
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

/// What `POST /api/v4/runners/verify` says of a valid token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// The runner's id.
    pub id: Option<i64>,
    /// When the token expires (RFC 3339), `None` when it does not.
    pub token_expires_at: Option<String>,
}

/// How many days before a token expires runnerctl warns, unless told otherwise.
pub const DEFAULT_WARNING_DAYS: u32 = 14;

/// How a token stands against its expiry date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "state"
)]
pub enum Expiry {
    /// It does not expire.
    Never,
    /// It expires, later than the warning window.
    Valid {
        /// When (RFC 3339).
        expires_at: String,
        /// Whole days left.
        days_left: i64,
    },
    /// It expires within the warning window.
    Soon {
        /// When (RFC 3339).
        expires_at: String,
        /// Whole days left.
        days_left: i64,
    },
    /// It has expired.
    Expired {
        /// When (RFC 3339).
        expires_at: String,
    },
    /// GitLab's date does not parse.
    Unknown {
        /// What GitLab said.
        expires_at: String,
    },
}

impl Expiry {
    /// Where a token expiring at `expires_at` stands `now`, warning `warn_days` before.
    pub fn of(expires_at: Option<&str>, warn_days: u32, now: jiff::Timestamp) -> Expiry {
        let Some(at) = expires_at else {
            return Expiry::Never;
        };
        let Ok(t) = at.parse::<jiff::Timestamp>() else {
            return Expiry::Unknown {
                expires_at: at.to_string(),
            };
        };
        let left = t.duration_since(now).as_secs();
        let expires_at = at.to_string();
        if left <= 0 {
            return Expiry::Expired { expires_at };
        }
        let days_left = left / 86_400;
        if days_left < i64::from(warn_days) {
            Expiry::Soon {
                expires_at,
                days_left,
            }
        } else {
            Expiry::Valid {
                expires_at,
                days_left,
            }
        }
    }
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expiry::Never => f.write_str("the token does not expire"),
            Expiry::Valid {
                expires_at,
                days_left,
            } => write!(f, "the token expires {expires_at} ({days_left} days left)"),
            Expiry::Soon {
                expires_at,
                days_left,
            } => write!(
                f,
                "the token expires {expires_at}: only {days_left} days left"
            ),
            Expiry::Expired { expires_at } => write!(f, "the token expired {expires_at}"),
            Expiry::Unknown { expires_at } => {
                write!(
                    f,
                    "the token expires {expires_at} (a date runnerctl cannot read)"
                )
            }
        }
    }
}

/// A new token from `reset_authentication_token`.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token (never printed).
    pub token: Token,
    /// When it expires (RFC 3339), `None` when it does not.
    pub token_expires_at: Option<String>,
}

/// One runner manager as GitLab lists it (`GET /api/v4/runners/:id/managers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    /// GitLab's id of the manager.
    #[serde(default)]
    pub id: Option<i64>,
    /// The manager's system id (`r_...` or `s_...`).
    pub system_id: String,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When GitLab last heard from it.
    #[serde(default)]
    pub contacted_at: Option<String>,
    /// The address GitLab saw it at.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// `online`, `offline`, `stale`, `never_contacted`.
    #[serde(default)]
    pub status: Option<String>,
    /// The runner's version.
    #[serde(default)]
    pub version: Option<String>,
}

/// A client of one GitLab: its endpoint, the CA the runner trusts, and how long a step may take.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: GitlabEndpoint,
    ca: GitlabCa,
    timeout: Duration,
}

impl Client {
    /// A client of `endpoint`, trusting the system roots plus `ca`, each network step bounded
    /// by `timeout`.
    pub fn new(endpoint: GitlabEndpoint, ca: GitlabCa, timeout: Duration) -> Client {
        Client {
            endpoint,
            ca,
            timeout,
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &GitlabEndpoint {
        &self.endpoint
    }

    /// One request: `method path`, a JSON body, an optional `PRIVATE-TOKEN`; the status and
    /// the parsed body (`Null` when not JSON).
    async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
        private_token: Option<&Token>,
    ) -> Result<(u16, Value), Error> {
        let g = &self.endpoint;
        let stream = connect(g, &self.ca, self.timeout).await?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
            .await
            .map_err(|e| Error::Http(format!("HTTP: {e}")))?;
        let driver = tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", g.path))
            .header(http::header::HOST, g.authority())
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("runnerctl/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(t) = private_token {
            req = req.header("PRIVATE-TOKEN", t.expose());
        }
        let bytes = match body {
            Some(b) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| Error::Http(e.to_string()))?;
        let answer = async {
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| Error::Http(format!("HTTP: {e}")))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Http(format!("HTTP: {e}")))?
                .to_bytes();
            Ok::<_, Error>((
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ))
        };
        let out = tokio::time::timeout(self.timeout, answer)
            .await
            .map_err(|_| {
                Error::Http(format!(
                    "GitLab did not answer within {}s",
                    self.timeout.as_secs()
                ))
            })?;
        driver.abort();
        out
    }

    /// `POST /api/v4/runners/verify`: the runner's id and the token's expiry; a 403 is
    /// [`Error::Status`] (the token is not valid).
    pub async fn verify(&self, token: &Token) -> Result<Verified, Error> {
        const WHAT: &str = "POST /api/v4/runners/verify";
        let body = json!({ "token": token.expose() });
        match self
            .send(
                http::Method::POST,
                "/api/v4/runners/verify",
                Some(body),
                None,
            )
            .await?
        {
            (200, v) => Ok(Verified {
                id: v.get("id").and_then(Value::as_i64),
                token_expires_at: v
                    .get("token_expires_at")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }),
            (status, v) => Err(status_error(WHAT, status, &v, token)),
        }
    }

    /// `POST /api/v4/runners/reset_authentication_token` with the current token: GitLab
    /// issues a new one (201) and the current one stops working.
    pub async fn reset_token(&self, token: &Token) -> Result<NewToken, Error> {
        const WHAT: &str = "POST /api/v4/runners/reset_authentication_token";
        let body = json!({ "token": token.expose() });
        let path = "/api/v4/runners/reset_authentication_token";
        match self
            .send(http::Method::POST, path, Some(body), None)
            .await?
        {
            (200 | 201, v) => {
                let new = v
                    .get("token")
                    .and_then(Value::as_str)
                    .filter(|t| !t.trim().is_empty())
                    .ok_or_else(|| Error::Status {
                        what: WHAT.into(),
                        status: 201,
                        message: Some("the answer holds no token".into()),
                    })?;
                Ok(NewToken {
                    token: Token::new(new),
                    token_expires_at: v
                        .get("token_expires_at")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
            }
            (status, v) => Err(status_error(WHAT, status, &v, token)),
        }
    }

    /// `GET /api/v4/runners/:id/managers` with a user's access token (`PRIVATE-TOKEN`).
    pub async fn managers(&self, runner_id: i64, access: &Token) -> Result<Vec<Manager>, Error> {
        let what = format!("GET /api/v4/runners/{runner_id}/managers");
        let path = format!("/api/v4/runners/{runner_id}/managers");
        match self
            .send(http::Method::GET, &path, None, Some(access))
            .await?
        {
            (200, v) => serde_json::from_value(v).map_err(|e| Error::Status {
                what,
                status: 200,
                message: Some(format!("unexpected answer: {e}")),
            }),
            (status, v) => Err(status_error(&what, status, &v, access)),
        }
    }

    /// `DELETE /api/v4/runners/managers` (token, system_id): GitLab forgets that manager only.
    pub async fn delete_manager(&self, token: &Token, system_id: &str) -> Result<(), Error> {
        const WHAT: &str = "DELETE /api/v4/runners/managers";
        let body = json!({ "token": token.expose(), "system_id": system_id });
        match self
            .send(
                http::Method::DELETE,
                "/api/v4/runners/managers",
                Some(body),
                None,
            )
            .await?
        {
            (200 | 204, _) => Ok(()),
            (status, v) => Err(status_error(WHAT, status, &v, token)),
        }
    }
}

/// An unexpected status, with GitLab's message (masked should it echo the token).
fn status_error(what: &str, status: u16, body: &Value, token: &Token) -> Error {
    let message = ["message", "error"]
        .iter()
        .find_map(|k| match body.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v @ (Value::Object(_) | Value::Array(_))) => Some(v.to_string()),
            _ => None,
        })
        .map(|m| {
            let m = m.replace(token.expose(), crate::secret::MASK);
            crate::secret::mask_tokens(&m)
        });
    Error::Status {
        what: what.to_string(),
        status,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_urls() {
        let g = GitlabEndpoint::parse("https://gitlab.example.com/").unwrap();
        assert_eq!(
            (g.host.as_str(), g.port, g.path.as_str()),
            ("gitlab.example.com", 443, "")
        );
        assert_eq!(g.authority(), "gitlab.example.com");
        let g = GitlabEndpoint::parse("http://127.0.0.1:8080/gitlab").unwrap();
        assert_eq!(
            (g.port, g.path.as_str(), g.authority().as_str()),
            (8080, "/gitlab", "127.0.0.1:8080")
        );
        assert!(GitlabEndpoint::parse("gitlab.example.com").is_none());
        assert!(GitlabEndpoint::parse("ftp://gitlab.example.com").is_none());
    }

    #[test]
    fn expiry_windows() {
        let now: jiff::Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
        assert_eq!(Expiry::of(None, 14, now), Expiry::Never);
        assert!(matches!(
            Expiry::of(Some("2027-03-01T00:00:00.000Z"), 14, now),
            Expiry::Valid { days_left: 83, .. }
        ));
        assert!(matches!(
            Expiry::of(Some("2026-12-20T00:00:00Z"), 14, now),
            Expiry::Soon { days_left: 12, .. }
        ));
        assert!(matches!(
            Expiry::of(Some("2026-12-07T11:59:59Z"), 14, now),
            Expiry::Expired { .. }
        ));
        assert!(matches!(
            Expiry::of(Some("soon"), 14, now),
            Expiry::Unknown { .. }
        ));
    }

    #[test]
    fn tokens_never_show() {
        let t = Token::new("glrt-very-SECRET-1234\n");
        assert_eq!(t.expose(), "glrt-very-SECRET-1234");
        assert!(!format!("{t:?}").contains("SECRET"));
        let new = NewToken {
            token: t.clone(),
            token_expires_at: None,
        };
        assert!(!format!("{new:?}").contains("SECRET"));
        let e = status_error(
            "POST x",
            400,
            &json!({"message": "token glrt-very-SECRET-1234 is bad"}),
            &t,
        );
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert_eq!(e.status(), Some(400));
    }
}
