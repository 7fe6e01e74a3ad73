//! `gitlab-tls` and `gitlab-registration`: GitLab as the runner will meet it.
//!
//! The name resolves (here, from where doctor runs: the runner resolves it with the cluster's
//! DNS), a TCP connection opens, and TLS completes with a certificate the runner trusts: the
//! system roots (as GitLab Runner uses, via rustls-native-certs) plus, with
//! `certsSecretName`, the `<host>.crt` entry of that Secret, which the runner reads from its
//! `certs/` directory. Then GitLab's runner API: `POST /api/v4/runners/verify` with the
//! token (200: valid, with the runner's id and the token's expiry; 403: invalid). No
//! `system_id` is sent, so GitLab records no runner manager for doctor.
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{Check, Status, str_value};
use crate::apply::Engine;
use crate::render::Release;
use crate::secret::secret_text;

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
        GitlabEndpoint::parse(str_value(values, "/gitlabUrl")?)
    }

    fn tls(&self) -> bool {
        self.scheme == "https"
    }

    fn authority(&self) -> String {
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
    pem: Option<Vec<u8>>,
    /// Where they came from, e.g. `Secret ci/certs key gitlab.example.com.crt`.
    from: Option<String>,
    /// Why a configured CA could not be used.
    problem: Option<String>,
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
}

impl Engine {
    /// The `<host>.crt` entry of the `certsSecretName` Secret (GET secret), if configured.
    pub(super) async fn gitlab_ca(
        &self,
        release: &Release,
        gitlab: Option<&GitlabEndpoint>,
    ) -> GitlabCa {
        let values = release.values.as_json();
        let (Some(name), Some(g)) = (str_value(values, "/certsSecretName"), gitlab) else {
            return GitlabCa::default();
        };
        let ns = str_value(values, "/namespace").unwrap_or(&release.namespace);
        let key = format!("{}.crt", g.host);
        let got = match self.cluster.resolve("v1", "Secret").await {
            Ok(Some(kind)) => self.cluster.get(&kind, Some(ns), name).await,
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        let problem = |p: String| GitlabCa {
            problem: Some(p),
            ..Default::default()
        };
        match got {
            Ok(Some(secret)) => match secret_text(&secret, &key) {
                Some(pem) => GitlabCa {
                    pem: Some(pem.into_bytes()),
                    from: Some(format!("Secret {ns}/{name} key {key}")),
                    problem: None,
                },
                None => {
                    let keys: Vec<&str> = secret["data"]
                        .as_object()
                        .map(|m| m.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    problem(format!(
                        "Secret {ns}/{name} (certsSecretName) has no key {key}, the file the runner reads for {} (keys: {})",
                        g.host,
                        keys.join(", ")
                    ))
                }
            },
            Ok(None) => problem(format!(
                "Secret {ns}/{name} (certsSecretName) does not exist yet: the runner pod cannot start without it"
            )),
            Err(e) => problem(format!(
                "cannot read Secret {ns}/{name} (certsSecretName): {}",
                super::said(&e)
            )),
        }
    }
}

/// Why a connection to GitLab failed, in the runner's words where it has them.
#[derive(Debug)]
enum ConnectError {
    Dns(String),
    Tcp(String),
    Tls(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Dns(m) | ConnectError::Tcp(m) | ConnectError::Tls(m) => f.write_str(m),
        }
    }
}

/// A byte stream to GitLab, TLS or not.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Resolve, connect and (for https) complete TLS trusting the system roots plus `ca`.
async fn connect(
    g: &GitlabEndpoint,
    ca: &GitlabCa,
    timeout: Duration,
) -> Result<Box<dyn Stream>, ConnectError> {
    let within = |what: &str| format!("{what} took longer than {}s", timeout.as_secs());
    let addrs: Vec<std::net::SocketAddr> =
        tokio::time::timeout(timeout, tokio::net::lookup_host((g.host.as_str(), g.port)))
            .await
            .map_err(|_| ConnectError::Dns(within("resolving")))?
            .map_err(|e| ConnectError::Dns(format!("{} does not resolve: {e}", g.host)))?
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
    let tcp = tcp.ok_or(ConnectError::Tcp(last))?;
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
        .map_err(|e| ConnectError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(g.host.clone())
        .map_err(|e| ConnectError::Tls(format!("{} is not a valid TLS name: {e}", g.host)))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => Err(ConnectError::Tls(within("the TLS handshake"))),
        Ok(Err(e)) => Err(ConnectError::Tls(tls_reason(&e))),
        Ok(Ok(s)) => Ok(Box::new(s)),
    }
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

/// `gitlab-tls`: DNS, TCP, then TLS with the trust the runner will have.
pub async fn check_reachable(g: &GitlabEndpoint, ca: &GitlabCa, timeout: Duration) -> Check {
    const ID: &str = "gitlab-tls";
    let at = g.authority();
    let trust = match &ca.from {
        Some(from) => format!("system roots and {from}"),
        None => "system roots".into(),
    };
    let ca_note: Vec<String> = ca.problem.iter().cloned().collect();
    match connect(g, ca, timeout).await {
        Err(ConnectError::Dns(m)) => Check::new(ID, Status::Failed, format!("gitlabUrl: {m}"))
            .details(ca_note)
            .fix("check gitlabUrl's host name (doctor resolves it from here; the runner resolves it with the cluster's DNS)"),
        Err(ConnectError::Tcp(m)) => Check::new(ID, Status::Failed, format!("gitlabUrl {at}: {m}"))
            .details(ca_note)
            .fix("check gitlabUrl's port and that firewalls let the cluster reach GitLab"),
        Err(ConnectError::Tls(m)) => {
            let fix = if m.contains("unknown authority") {
                "put the CA that signed GitLab's certificate into a Secret under the key <gitlab host>.crt and set certsSecretName to it"
            } else {
                "check GitLab's certificate (names, validity) with: openssl s_client -connect <host>:<port>"
            };
            Check::new(ID, Status::Failed, format!("TLS with {at} fails: {m} (trusting {trust})"))
                .details(ca_note)
                .fix(fix)
        }
        Ok(_) if !g.tls() => Check::new(
            ID,
            Status::Warning,
            format!("{at} answers over plain http: tokens and job logs travel unencrypted"),
        )
        .details(ca_note)
        .fix("use an https gitlabUrl"),
        Ok(_) if !ca_note.is_empty() => Check::new(
            ID,
            Status::Warning,
            format!("{at} answers TLS with a certificate the system roots trust, but certsSecretName is not usable"),
        )
        .details(ca_note)
        .fix("create the Secret certsSecretName names, with the key <gitlab host>.crt, or unset certsSecretName"),
        Ok(_) => Check::new(ID, Status::Ok, format!("{at} resolves and answers TLS with a certificate trusted by {trust}")),
    }
}

/// `POST <path>/api/v4/runners/verify` with `{"token": ...}`: the status and parsed body.
async fn verify(
    g: &GitlabEndpoint,
    ca: &GitlabCa,
    token: &str,
    timeout: Duration,
) -> Result<(u16, Value), String> {
    let stream = connect(g, ca, timeout).await.map_err(|e| e.to_string())?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(conn);
    let body = json!({ "token": token }).to_string();
    let req = http::Request::post(format!("{}/api/v4/runners/verify", g.path))
        .header(http::header::HOST, g.authority())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("runnerctl/", env!("CARGO_PKG_VERSION"), " doctor"),
        )
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let answer = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("HTTP: {e}"))?
            .to_bytes();
        Ok::<_, String>((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    };
    let out = tokio::time::timeout(timeout, answer)
        .await
        .map_err(|_| format!("GitLab did not answer within {}s", timeout.as_secs()))?;
    driver.abort();
    out
}

/// `gitlab-registration`: the token as GitLab sees it (`POST /api/v4/runners/verify`).
pub async fn check_registration(
    g: &GitlabEndpoint,
    ca: &GitlabCa,
    token: Option<&str>,
    timeout: Duration,
) -> Check {
    const ID: &str = "gitlab-registration";
    let Some(token) = token else {
        return Check::new(
            ID,
            Status::Skipped,
            "no runner authentication token to ask GitLab about (a registration token is used when the runner starts)",
        );
    };
    let last_contact = "last contact: GitLab tells it only to a user token (GET /api/v4/runners/:id, contacted_at) or in Settings > CI/CD > Runners".to_string();
    match verify(g, ca, token, timeout).await {
        Ok((200, body)) => {
            let id = body.get("id").and_then(Value::as_i64);
            let expires = body
                .get("token_expires_at")
                .and_then(Value::as_str)
                .unwrap_or("never");
            let who = id.map_or("a runner".to_string(), |id| format!("runner #{id}"));
            Check::new(
                ID,
                Status::Ok,
                format!("GitLab accepts the token: {who}, token expires {expires}"),
            )
            .details(vec![last_contact])
        }
        Ok((403, _)) => Check::new(
            ID,
            Status::Failed,
            "GitLab rejects the token (403 Forbidden): the runner was deleted in GitLab or its token was reset",
        )
        .fix("create a runner in GitLab (Settings > CI/CD > Runners > New runner) and set runnerToken to its glrt- token"),
        Ok((code, _)) => Check::new(
            ID,
            Status::Warning,
            format!("POST /api/v4/runners/verify answered {code}; expected 200 (valid) or 403 (invalid)"),
        )
        .fix("check gitlabUrl points at GitLab itself (not a proxy page) and GitLab's version"),
        Err(e) => Check::new(ID, Status::Failed, format!("cannot ask GitLab: {e}"))
            .fix("see the gitlab-tls check"),
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
}
