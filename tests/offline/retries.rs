//! The one retry policy, against API servers that fail every request: each failure is
//! retried and said on stderr, and the command ends by its `--timeout` (plus one request's
//! `--request-timeout`); a verb without `--timeout` ends when the policy's tries are spent.
//! The servers are local HTTP servers on 127.0.0.1 that answer 503, 429 or 500 to
//! everything, or accept connections and never answer.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How a fake API server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// This status with a Kubernetes Status body, and `Retry-After` (header and body) when
    /// non-zero.
    Status(u16, u32),
    /// Accept the connection, read the request, never answer.
    Silent,
}

/// A fake API server on a free port; the number of requests it has read.
fn serve(answer: Answer) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || answer_all(conn, answer, &counter));
        }
    });
    (url, seen)
}

/// Read requests from one connection and answer each.
fn answer_all(mut conn: TcpStream, answer: Answer, seen: &AtomicUsize) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // One request: headers up to a blank line, then Content-Length bytes of body.
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let body_len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + body_len {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..end + body_len);
        seen.fetch_add(1, Ordering::SeqCst);
        let Answer::Status(code, retry_after) = answer else {
            // Keep the connection open without a word until the client gives up.
            std::thread::sleep(Duration::from_secs(600));
            return;
        };
        let body = format!(
            r#"{{"kind":"Status","apiVersion":"v1","status":"Failure","message":"test server","reason":"Test","code":{code},"details":{{"retryAfterSeconds":{retry_after}}}}}"#
        );
        let mut response = format!(
            "HTTP/1.1 {code} Test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        if retry_after > 0 {
            response.push_str(&format!("retry-after: {retry_after}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&body);
        if conn.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A kubeconfig for `server` in a fresh directory.
fn kubeconfig(server: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runnerctl-retries-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: t\ncontexts:\n- name: t\n  context: \
             {{cluster: t, user: t, namespace: ci}}\nclusters:\n- name: t\n  cluster: {{server: \
             '{server}'}}\nusers:\n- name: t\n  user: {{token: test}}\n"
        ),
    )
    .unwrap();
    path
}

/// What a run printed and how long it took.
struct Run {
    code: i32,
    stderr: String,
    took: Duration,
}

/// The value flags of a release to diff or apply.
const VALUES: [&str; 2] = [
    "--set",
    "gitlabUrl=https://gitlab.example.com,runnerToken=glrt-retries-test",
];

/// Run runnerctl against `kubeconfig` with `args`.
fn run(kubeconfig: &PathBuf, args: &[&str]) -> Run {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_runnerctl"))
        .args(args)
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// `apply --yes --stats --timeout T --request-timeout R` of a release, asserted to fail and to
/// end by T + R (plus room for the process itself).
fn apply_bounded(kubeconfig: &PathBuf, timeout: u64, request_timeout: u64) -> Run {
    let (t, r) = (format!("{timeout}s"), format!("{request_timeout}s"));
    let args = [
        "apply",
        "--yes",
        "--stats",
        "--timeout",
        &t,
        "--request-timeout",
        &r,
    ];
    let run = run(kubeconfig, &[&args[..], &VALUES[..]].concat());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let bound = Duration::from_secs(timeout + request_timeout + 3);
    assert!(
        run.took < bound,
        "took {:?}, bound {bound:?}: {}",
        run.took,
        run.stderr
    );
    run
}

#[test]
fn every_failing_status_is_retried_and_apply_ends_by_its_timeout() {
    for code in [503, 500, 429] {
        let (url, seen) = serve(Answer::Status(code, 0));
        let kc = kubeconfig(&url, &format!("status-{code}"));
        let r = apply_bounded(&kc, 2, 2);
        assert!(r.stderr.contains("retrying in"), "{code}: {}", r.stderr);
        assert!(r.stderr.contains(&code.to_string()), "{code}: {}", r.stderr);
        // Every try reached the server and was counted in --stats.
        let tries = seen.load(Ordering::SeqCst);
        assert!(tries >= 2, "{code}: {tries} requests");
        assert!(
            r.stderr.contains(&format!(
                "stats: {tries} API requests ({} retries)",
                tries - 1
            )),
            "{code}, {tries} requests: {}",
            r.stderr
        );
        // Where the deadline stops the retries, it says so.
        assert!(r.stderr.contains("not retried"), "{code}: {}", r.stderr);
    }
}

#[test]
fn the_servers_retry_after_is_honoured_within_the_cap() {
    let (url, _) = serve(Answer::Status(429, 1));
    let kc = kubeconfig(&url, "retry-after");
    let r = run(
        &kc,
        &[&["diff", "--request-timeout", "2s"], &VALUES[..]].concat(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("429"), "{}", r.stderr);
    // Each pause is the server's second, not the doubling backoff (250 ms, 500 ms, ...).
    let pauses: Vec<&str> = r
        .stderr
        .lines()
        .filter_map(|l| l.split("retrying in ").nth(1))
        .collect();
    assert_eq!(pauses.len(), 4, "{}", r.stderr);
    assert!(
        pauses.iter().all(|p| p.starts_with("1000 ms")),
        "{}",
        r.stderr
    );
}

#[test]
fn a_verb_without_timeout_stops_when_its_tries_are_spent() {
    let (url, seen) = serve(Answer::Status(503, 0));
    let kc = kubeconfig(&url, "no-timeout");
    let r = run(&kc, &["status", "--request-timeout", "2s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // Five tries of one request (the first failing request ends the command), four pauses of
    // 0.25 + 0.5 + 1 + 2 s.
    assert_eq!(seen.load(Ordering::SeqCst), 5, "{}", r.stderr);
    assert!(r.stderr.contains("attempt 5 of 5"), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(3 + 4 + 3), "took {:?}", r.took);
}

#[test]
fn a_server_that_never_answers_is_given_up_by_the_timeouts() {
    let (url, seen) = serve(Answer::Silent);
    let kc = kubeconfig(&url, "silent");
    let r = apply_bounded(&kc, 3, 1);
    assert!(r.stderr.contains("no answer within 1s"), "{}", r.stderr);
    assert!(
        r.stderr.contains("failed: no answer within 1s\n"),
        "the last line says it plainly: {}",
        r.stderr
    );
    assert!(seen.load(Ordering::SeqCst) >= 2, "retried: {}", r.stderr);

    // Without --timeout: five tries of one second each, and the pauses between them.
    let r = run(
        &kc,
        &[&["diff", "--request-timeout", "1s"], &VALUES[..]].concat(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("attempt 5 of 5"), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(5 + 4 + 3), "took {:?}", r.took);
}
