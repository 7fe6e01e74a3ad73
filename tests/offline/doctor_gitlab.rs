//! doctor's GitLab checks against a local fake of GitLab's runner API
//! (tests/support/fake_gitlab.rs): the token as GitLab sees it, and TLS with and without the
//! CA that signed the server's certificate.

use std::time::Duration;

use runnerctl::apply::doctor::{
    Check, GitlabCa, GitlabEndpoint, Status, check_reachable, check_registration,
};

use crate::support::fake_gitlab::{FakeGitlab, RUNNER_ID, VALID_TOKEN};

const TIMEOUT: Duration = Duration::from_secs(5);

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn registration(url: &str, ca: &GitlabCa, token: Option<&str>) -> Check {
    let g = GitlabEndpoint::parse(url).unwrap();
    let client = runnerctl::gitlab::Client::new(g, ca.clone(), TIMEOUT);
    let c = block_on(check_registration(&client, token, 14));
    assert!(!format!("{c:?}").contains("VALID"), "token in {c:?}");
    c
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("runnerctl-doctor-{name}-{}", std::process::id()))
}

#[test]
fn a_valid_token_is_accepted_and_the_request_is_the_documented_one() {
    let fake = FakeGitlab::http();
    let c = registration(&fake.url, &GitlabCa::default(), Some(VALID_TOKEN));
    assert_eq!(c.status, Status::Ok, "{c:?}");
    assert!(c.summary.contains(&format!("runner #{RUNNER_ID}")), "{c:?}");
    assert!(c.summary.contains("the token does not expire"), "{c:?}");
    let seen = fake.requests.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/api/v4/runners/verify")
    );
    assert_eq!(request.body["token"], VALID_TOKEN);
    // No system_id: GitLab records no runner manager for doctor.
    assert!(request.body.get("system_id").is_none(), "{}", request.body);
}

#[test]
fn an_unknown_token_fails_with_a_fix() {
    let fake = FakeGitlab::http();
    let c = registration(
        &fake.url,
        &GitlabCa::default(),
        Some("glrt-revoked-000000000000"),
    );
    assert_eq!(c.status, Status::Failed, "{c:?}");
    assert!(c.summary.contains("403"), "{c:?}");
    assert!(c.fix.unwrap().contains("New runner"));
}

#[test]
fn a_gitlab_under_a_path_and_a_wrong_address() {
    let fake = FakeGitlab::http();
    // GitLab under /gitlab: the fake knows only the root, so it answers 404.
    let c = registration(
        &format!("{}/gitlab", fake.url),
        &GitlabCa::default(),
        Some(VALID_TOKEN),
    );
    assert_eq!(c.status, Status::Warning, "{c:?}");
    assert!(c.summary.contains("answered 404"), "{c:?}");
    assert_eq!(
        fake.requests.lock().unwrap()[0].path,
        "/gitlab/api/v4/runners/verify"
    );
    // Nothing listens: failed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let c = registration(
        &format!("http://{closed}"),
        &GitlabCa::default(),
        Some(VALID_TOKEN),
    );
    assert_eq!(c.status, Status::Failed, "{c:?}");
}

#[test]
fn no_runner_token_is_skipped() {
    let c = registration("https://gitlab.example.com", &GitlabCa::default(), None);
    assert_eq!(c.status, Status::Skipped, "{c:?}");
}

#[test]
fn tls_fails_without_the_ca_and_passes_with_it() {
    let dir = tmp("tls");
    let fake = FakeGitlab::https(&dir);
    let g = GitlabEndpoint::parse(&fake.url).unwrap();
    let c = block_on(check_reachable(&g, &GitlabCa::default(), TIMEOUT));
    assert_eq!(c.status, Status::Failed, "{c:?}");
    assert!(
        c.summary
            .contains("x509: certificate signed by unknown authority"),
        "{c:?}"
    );
    assert!(
        c.fix.as_deref().unwrap().contains("certsSecretName"),
        "{c:?}"
    );
    let ca = GitlabCa::from_pem(std::fs::read(dir.join("ca.crt")).unwrap(), "ca.crt");
    let c = block_on(check_reachable(&g, &ca, TIMEOUT));
    assert_eq!(c.status, Status::Ok, "{c:?}");
    assert!(
        c.summary.contains("trusted by system roots and ca.crt"),
        "{c:?}"
    );
    // The runner API over that TLS.
    let c = registration(&fake.url, &ca, Some(VALID_TOKEN));
    assert_eq!(c.status, Status::Ok, "{c:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plain_http_warns_and_an_unresolvable_name_fails() {
    let fake = FakeGitlab::http();
    let g = GitlabEndpoint::parse(&fake.url).unwrap();
    let c = block_on(check_reachable(&g, &GitlabCa::default(), TIMEOUT));
    assert_eq!(c.status, Status::Warning, "{c:?}");
    assert!(c.summary.contains("plain http"), "{c:?}");
    let g = GitlabEndpoint::parse("https://gitlab.runnerctl-test.invalid").unwrap();
    let c = block_on(check_reachable(&g, &GitlabCa::default(), TIMEOUT));
    assert_eq!(c.status, Status::Failed, "{c:?}");
    assert!(c.summary.contains("does not resolve"), "{c:?}");
}

/// A date `days` from now, as GitLab writes one.
fn in_days(days: i64) -> String {
    let t = k8s_openapi::jiff::Timestamp::now()
        + k8s_openapi::jiff::SignedDuration::from_hours(24 * days);
    t.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string()
}

#[test]
fn a_token_near_its_expiry_warns_and_an_expired_one_fails_with_the_date_in_json() {
    let fake = FakeGitlab::http();
    let at = |days: i64| {
        let date = in_days(days);
        fake.state.lock().unwrap().expires_at = Some(date.clone());
        let c = registration(&fake.url, &GitlabCa::default(), Some(VALID_TOKEN));
        (c, date)
    };
    let (c, date) = at(90);
    assert_eq!(c.status, Status::Ok, "{c:?}");
    assert!(
        c.summary
            .contains(&format!("the token expires {date} (89 days left)")),
        "{c:?}"
    );
    let (c, date) = at(10);
    assert_eq!(c.status, Status::Warning, "{c:?}");
    assert!(c.summary.contains("only 9 days left"), "{c:?}");
    assert!(c.fix.as_deref().unwrap().contains("runnerctl token rotate"));
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["expiry"]["state"], "soon");
    assert_eq!(json["expiry"]["expiresAt"], date.as_str());
    assert_eq!(json["expiry"]["daysLeft"], 9);
    // GitLab still answers 200 for a token whose date has just passed.
    let (c, _) = at(-1);
    assert_eq!(c.status, Status::Failed, "{c:?}");
    assert!(c.summary.contains("the token expired"), "{c:?}");
}

#[test]
fn gitlab_errors_are_named_without_the_token() {
    let fake = FakeGitlab::http();
    for (status, word) in [
        (401, "answered 401"),
        (404, "answered 404"),
        (429, "answered 429"),
    ] {
        fake.state.lock().unwrap().fail_next.push(status);
        let c = registration(&fake.url, &GitlabCa::default(), Some(VALID_TOKEN));
        assert_eq!(c.status, Status::Warning, "{c:?}");
        assert!(c.summary.contains(word), "{c:?}");
    }
    let c = registration(
        &fake.url,
        &GitlabCa::default(),
        Some("glrt-fake-WRONG-000000"),
    );
    assert_eq!(c.status, Status::Failed, "{c:?}");
    assert!(!format!("{c:?}").contains("WRONG"), "{c:?}");
}
