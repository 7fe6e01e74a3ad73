//! Fault injection: runnerctl talks to the real control plane through a TCP proxy that resets
//! connections or cuts one in the middle of a run. Retries must carry a run through dropped
//! connections, and a run that fails anyway must converge when run again, nothing lost.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::support::cluster::*;

/// What the proxy does to the next connections.
#[derive(Default)]
struct Faults {
    /// Close this many incoming connections at once (the client sees a reset or EOF).
    reset_next: usize,
    /// Cut the next connection after this many bytes from the server.
    cut_after: Option<usize>,
    /// Connections accepted so far.
    seen: usize,
}

/// Copy `from` to `to` until EOF, or until `limit` bytes, then shut both down.
fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<usize>) {
    let mut buf = [0u8; 16 * 1024];
    let mut sent = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let n = match limit {
            Some(l) if sent + n >= l => {
                let _ = to.write_all(&buf[..l - sent]);
                break;
            }
            _ => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A proxy to `upstream` on a free port of 127.0.0.1, misbehaving as `faults` say.
fn proxy(upstream: SocketAddr, faults: Arc<Mutex<Faults>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { continue };
            let (reset, cut) = {
                let mut f = faults.lock().unwrap();
                f.seen += 1;
                if f.reset_next > 0 {
                    f.reset_next -= 1;
                    (true, None)
                } else {
                    (false, f.cut_after.take())
                }
            };
            if reset {
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            thread::spawn(move || pump(client, server, None));
            thread::spawn(move || pump(s2, c2, cut));
        }
    });
    addr
}

/// A kubeconfig like the admin's, with its server behind the proxy; the proxy's controls.
fn faulty_kubeconfig(dir: &std::path::Path) -> (String, Arc<Mutex<Faults>>) {
    let text = std::fs::read_to_string(kubeconfig()).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: https://"))
        .expect("a server line")
        .to_string();
    let upstream: SocketAddr = server.parse().unwrap();
    let faults = Arc::new(Mutex::new(Faults::default()));
    let addr = proxy(upstream, faults.clone());
    let path = dir.join("faulty.kubeconfig");
    std::fs::write(&path, text.replace(&server, &addr.to_string())).unwrap();
    (path.to_string_lossy().into_owned(), faults)
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn dropped_connections_are_retried_and_an_interrupted_apply_converges() {
    let ns = namespace("faults");
    let dir = std::env::temp_dir().join(format!("runnerctl-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (faulty, faults) = faulty_kubeconfig(&dir);

    // Connections reset at the start: retried, said on stderr, the install succeeds.
    faults.lock().unwrap().reset_next = 2;
    let r = runnerctl_as(
        &faulty,
        &seed_args("apply", &ns, &["--yes", "--timeout", "2m"]),
    )
    .expect(0);
    assert!(r.stderr.contains("retrying in"), "{}", r.stderr);
    assert!(r.stdout.contains("7 to add"), "{}", r.stdout);

    // A change whose connection is cut in the middle of the run, and the next ones reset.
    // Whether this run gets through on retries or fails, running it again converges.
    for cut in [4_000, 12_000, 30_000] {
        {
            let mut f = faults.lock().unwrap();
            f.cut_after = Some(cut);
            f.reset_next = 0;
        }
        let value = format!("concurrent={}", cut / 1000);
        let first = runnerctl_as(
            &faulty,
            &seed_args("apply", &ns, &["--yes", "--wait=false", "--set", &value]),
        );
        assert!(first.code == 0 || first.code == 1, "{}", first.all());
        runnerctl(&seed_args(
            "apply",
            &ns,
            &["--yes", "--set", &value, "--timeout", "2m"],
        ))
        .expect(0);
        runnerctl(&seed_args("diff", &ns, &["--set", &value, "--exit-code"])).expect(0);
    }
    assert!(faults.lock().unwrap().seen > 3, "the proxy was used");
    // Nothing orphaned: the parent still lists every kind the release has.
    let parent = get_json(&["secret", "-n", &ns, "gitlab-runner-applyset"]);
    let kinds = parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"]
        .as_str()
        .unwrap()
        .to_string();
    for kind in [
        "ConfigMap",
        "Deployment.apps",
        "Role.rbac.authorization.k8s.io",
        "Secret",
    ] {
        assert!(kinds.contains(kind), "{kinds}");
    }
    runnerctl(&["uninstall", "-n", &ns, "--delete-namespace"]).expect(0);
    std::fs::remove_dir_all(&dir).ok();
}
