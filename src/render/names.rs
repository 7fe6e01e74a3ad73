//! Names as Kubernetes and helm check them: release names, namespaces and the object names
//! derived from them. Each check says which rule failed.
use super::Error;

/// The longest release name helm accepts (object names get suffixes, labels hold at most 63).
pub const MAX_RELEASE_NAME_LEN: usize = 53;
/// The longest DNS-1123 label: namespaces, container names, Service names, label values.
pub const MAX_LABEL_LEN: usize = 63;

/// Check a DNS-1123 label (a namespace, a container name): at most 63 characters, lowercase
/// letters, digits and `-`, starting and ending with a letter or digit. `what` names it in
/// the error (`namespace "Team_A"`).
pub fn check_label(what: impl std::fmt::Display, name: &str) -> Result<(), Error> {
    let invalid = |rule: String| Error::InvalidName {
        what: what.to_string(),
        rule,
    };
    if name.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if name.len() > MAX_LABEL_LEN {
        return Err(invalid(format!(
            "it has {} characters; a DNS-1123 label has at most {MAX_LABEL_LEN}",
            name.len()
        )));
    }
    if let Some((i, c)) = name
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        return Err(invalid(format!(
            "{c:?} at position {}: a DNS-1123 label has only lowercase letters, digits and '-'",
            i + 1
        )));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(invalid(
            "a DNS-1123 label starts and ends with a letter or digit".into(),
        ));
    }
    Ok(())
}

/// The longest DNS-1123 subdomain: the name of a Secret, a ConfigMap, most objects.
pub const MAX_SUBDOMAIN_LEN: usize = 253;

/// Check a DNS-1123 subdomain (a Secret's name): at most 253 characters, dot-separated
/// DNS-1123 labels (lowercase letters, digits and `-`, each starting and ending with a letter
/// or digit). `what` names it in the error.
pub fn check_subdomain(what: impl std::fmt::Display, name: &str) -> Result<(), Error> {
    if name.len() > MAX_SUBDOMAIN_LEN {
        return Err(Error::InvalidName {
            what: what.to_string(),
            rule: format!(
                "it has {} characters; a DNS-1123 subdomain has at most {MAX_SUBDOMAIN_LEN}",
                name.len()
            ),
        });
    }
    for part in name.split('.') {
        check_label(&what, part).map_err(|e| match e {
            Error::InvalidName { what, rule } => Error::InvalidName {
                what,
                rule: format!("{rule} (in each dot-separated part of a DNS-1123 subdomain)"),
            },
            other => other,
        })?;
    }
    Ok(())
}

/// Check a release name as helm does: a DNS-1123 label of at most 53 characters.
pub fn check_release_name(name: &str) -> Result<(), Error> {
    let what = format_args!("release name {name:?}");
    check_label(what, name)?;
    if name.len() > MAX_RELEASE_NAME_LEN {
        return Err(Error::InvalidName {
            what: what.to_string(),
            rule: format!(
                "it has {} characters; helm allows at most {MAX_RELEASE_NAME_LEN} (object names add suffixes)",
                name.len()
            ),
        });
    }
    Ok(())
}

/// `base` + `suffix`, with `base` cut so that the whole is at most 63 characters and does not
/// end the cut part with `-` (helm's trimming of fullname, applied to derived names).
pub fn suffixed(base: &str, suffix: &str) -> String {
    let room = MAX_LABEL_LEN.saturating_sub(suffix.len());
    let mut cut: String = base.chars().take(room).collect();
    while cut.ends_with('-') {
        cut.pop();
    }
    cut + suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(check_label("namespace \"a\"", "gitlab-runner").is_ok());
        assert!(check_label("x", &"a".repeat(63)).is_ok());
        for (bad, rule) in [
            ("", "empty"),
            ("Team", "'T' at position 1"),
            ("a_b", "'_' at position 2"),
            ("a.b", "'.' at position 2"),
            ("-a", "starts and ends"),
            ("a-", "starts and ends"),
        ] {
            let e = check_label("namespace", bad).unwrap_err().to_string();
            assert!(e.contains(rule), "{bad:?}: {e}");
        }
        let e = check_label("namespace", &"a".repeat(64))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("64 characters") && e.contains("at most 63"),
            "{e}"
        );
    }

    #[test]
    fn subdomains() {
        for ok in ["a", "gitlab-runner.token", "a.b-c.d1"] {
            check_subdomain("x", ok).unwrap();
        }
        for bad in ["", "a..b", ".a", "a.", "A", "a_b", &"a".repeat(254)] {
            assert!(check_subdomain("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn release_names() {
        assert!(check_release_name(&"r".repeat(53)).is_ok());
        let e = check_release_name(&"r".repeat(54)).unwrap_err().to_string();
        assert!(e.contains("helm allows at most 53"), "{e}");
        let e = check_release_name("My-Runner").unwrap_err().to_string();
        assert!(e.starts_with("release name \"My-Runner\""), "{e}");
    }

    #[test]
    fn derived_names_stay_within_63() {
        let long = "a".repeat(60) + "-bcd";
        let n = suffixed(&long, "-session-server");
        assert_eq!(n.len(), 63);
        assert!(n.ends_with("-session-server"));
        assert_eq!(suffixed("r", "-session-server"), "r-session-server");
        let dash = "a".repeat(47) + "-x";
        assert_eq!(
            suffixed(&dash, "-session-server"),
            "a".repeat(47) + "-session-server"
        );
    }
}
