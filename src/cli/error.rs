//! Printing an error once: its cause chain on one line, and what the user can do about it,
//! in terms of this command line's flags.
use runnerctl::apply::{self, Remedy};

/// The message for an error: `outer: cause: cause`, then a `hint:` line when the apply
/// engine knows a remedy. The chain stops at an apply error, whose message already holds
/// what its cause (the API server's answer) says.
pub fn describe(err: &anyhow::Error) -> String {
    describe_for(err, &[])
}

/// [`describe`] for a command line whose arguments are `given`: a hint never suggests a flag
/// already given.
pub fn describe_for(err: &anyhow::Error, given: &[String]) -> String {
    let mut text = String::new();
    let mut remedy = None;
    for cause in err.chain() {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        if let Some(e) = cause.downcast_ref::<apply::Error>() {
            remedy = e.remedy();
            break;
        }
    }
    if let Some(r) = remedy {
        text.push_str("\nhint: ");
        let passed = |flag: &str| given.iter().any(|a| a == flag);
        text.push_str(match r {
            Remedy::CreateNamespace if passed("--create-namespace") => {
                "create that namespace first: --create-namespace creates only the namespaces \
                 the release renders (the release namespace and the job namespace)"
            }
            r => hint(r),
        });
    }
    text
}

/// A remedy in terms of the command line.
fn hint(remedy: Remedy) -> &'static str {
    match remedy {
        Remedy::ForceConflicts => {
            "rerun with --force-conflicts to take the fields over, or change the values to match"
        }
        Remedy::Recreate => "rerun with --recreate to delete and recreate the object",
        Remedy::CreateNamespace => "create the namespace first, or pass --create-namespace",
        Remedy::Unlock => {
            "wait for the other run (a longer --timeout), or if it was killed, rerun with \
             --force-unlock"
        }
        Remedy::RunAgain => "run the command again: the release changed since the plan was made",
        Remedy::ChooseRevision => {
            "see `runnerctl history` for the revisions, and name one to roll back to"
        }
        Remedy::NewPlan => {
            "write a new plan (`runnerctl diff ... --out FILE`), review it, and apply that one"
        }
        Remedy::PlanWithSecrets => {
            "write the plan with --show-secrets (then keep the file as secret as the token), or \
             apply from the values instead of --plan"
        }
        Remedy::Drain => {
            "run the command again once the jobs have finished (or with a longer --timeout); \
             `runnerctl uninstall --no-drain` deletes everything at once, and the runner can then \
             no longer clean up its job pods"
        }
        Remedy::Adopt => {
            "rerun with --adopt to take the object over (it then belongs to this release and is \
             deleted with it), or choose other names (release name, fullnameOverride)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_and_hint() {
        let e = apply::Error::Immutable {
            object: runnerctl::object::ObjectRef::namespace("x"),
            message: "spec.selector: field is immutable".into(),
            source: None,
        };
        let text = describe(&anyhow::Error::new(e).context("applying"));
        assert_eq!(
            text,
            "applying: Namespace/x: an immutable field would change (spec.selector: field is immutable)\n\
             hint: rerun with --recreate to delete and recreate the object"
        );
        let missing = apply::Error::Api {
            object: runnerctl::object::ObjectRef::namespace("x"),
            verb: "apply",
            source: Box::new(kube::Error::Api(
                kube::core::Status::failure("namespaces \"x\" not found", "NotFound")
                    .with_code(404)
                    .boxed(),
            )),
        };
        let missing = anyhow::Error::new(missing);
        assert!(describe(&missing).ends_with("or pass --create-namespace"));
        let given = describe_for(&missing, &["apply".into(), "--create-namespace".into()]);
        assert!(!given.contains("or pass --create-namespace"), "{given}");
        assert!(given.contains("create that namespace first"), "{given}");
        let plain = describe(&anyhow::anyhow!("bad input"));
        assert_eq!(plain, "bad input");
    }
}
