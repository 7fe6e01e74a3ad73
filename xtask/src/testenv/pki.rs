//! Certificates and keys of one instance, made with the openssl command (ECDSA P-256:
//! fast to generate, accepted by every component and by rustls).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The client identities the instance hands out: (file stem, subject).
pub const CLIENTS: &[(&str, &str)] = &[
    ("admin", "/O=system:masters/CN=admin"),
    ("limited", "/CN=limited"),
    (
        "kube-controller-manager",
        "/CN=system:kube-controller-manager",
    ),
    ("kube-scheduler", "/CN=system:kube-scheduler"),
];

/// The names and addresses the API server's certificate is valid for.
const APISERVER_SANS: &str = "IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,\
DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local";

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = @@SANS@@
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
";

/// Makes the CA, the API server's serving certificate, one client certificate per entry of
/// [`CLIENTS`] and the service-account signing key pair in `dir`.
pub fn generate(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    let cnf = dir.join("openssl.cnf");
    fs::write(&cnf, OPENSSL_CNF.replace("@@SANS@@", APISERVER_SANS))?;
    let cnf = cnf.to_string_lossy().into_owned();
    let p = |name: &str| -> String { dir.join(name).to_string_lossy().into_owned() };

    key(&p("ca.key"))?;
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-config",
        &cnf,
        "-extensions",
        "ca",
        "-key",
        &p("ca.key"),
        "-subj",
        "/CN=runnerctl-testenv-ca",
        "-days",
        "3650",
        "-out",
        &p("ca.crt"),
    ])?;
    leaf(dir, &cnf, "apiserver", "/CN=kube-apiserver", "server")?;
    for (stem, subject) in CLIENTS {
        leaf(dir, &cnf, stem, subject, "client")?;
    }
    key(&p("sa.key"))?;
    openssl(&["pkey", "-in", &p("sa.key"), "-pubout", "-out", &p("sa.pub")])?;
    Ok(())
}

/// Path of a file in the pki dir, for flags.
pub fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn key(out: &str) -> Result<()> {
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        out,
    ])
}

fn leaf(dir: &Path, cnf: &str, stem: &str, subject: &str, extensions: &str) -> Result<()> {
    let p = |ext: &str| {
        dir.join(format!("{stem}.{ext}"))
            .to_string_lossy()
            .into_owned()
    };
    let ca = |ext: &str| dir.join(format!("ca.{ext}")).to_string_lossy().into_owned();
    key(&p("key"))?;
    openssl(&[
        "req",
        "-new",
        "-config",
        cnf,
        "-key",
        &p("key"),
        "-subj",
        subject,
        "-out",
        &p("csr"),
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("csr"),
        "-CA",
        &ca("crt"),
        "-CAkey",
        &ca("key"),
        "-CAcreateserial",
        "-CAserial",
        &ca("srl"),
        "-days",
        "3650",
        "-extfile",
        cnf,
        "-extensions",
        extensions,
        "-out",
        &p("crt"),
    ])?;
    let _ = fs::remove_file(p("csr"));
    Ok(())
}

fn openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running openssl (the test control plane's certificates are made with it; install the openssl package)")?;
    if !out.status.success() {
        bail!(
            "`openssl {}` failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Standard base64 of a file's bytes, for kubeconfig `*-data` fields.
pub fn base64_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(base64(&bytes))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_chain_to_the_ca_with_the_right_names() {
        let dir = std::env::temp_dir().join(format!("xtask-pki-{}", std::process::id()));
        generate(&dir).unwrap();
        let text = |cert: &str| {
            let out = Command::new("openssl")
                .args(["x509", "-noout", "-text", "-in"])
                .arg(dir.join(cert))
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        for cert in ["apiserver.crt", "admin.crt", "limited.crt"] {
            let out = Command::new("openssl")
                .args(["verify", "-CAfile"])
                .arg(dir.join("ca.crt"))
                .arg(dir.join(cert))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{cert}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let server = text("apiserver.crt");
        assert!(
            server.contains("IP Address:127.0.0.1")
                && server.contains("TLS Web Server Authentication"),
            "{server}"
        );
        let admin = text("admin.crt");
        assert!(
            admin.contains("O = system:masters, CN = admin")
                && admin.contains("TLS Web Client Authentication"),
            "{admin}"
        );
        assert!(
            fs::read_to_string(dir.join("sa.pub"))
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }
}
