//! The apply engine's errors. Every variant carries the object it is about as data
//! ([`ObjectRef`]), and the API error that caused it as its `#[source]`, so a library caller
//! can match on them. Messages never name command-line flags; see [`Error::remedy`] for what
//! a user can do about one.
use std::fmt;

use serde::Serialize;

use crate::object::ObjectRef;

/// One field owned by another field manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldConflict {
    /// The field path, e.g. `.spec.replicas`.
    pub field: String,
    /// The manager that owns it, e.g. `kubectl-edit`.
    pub manager: String,
}

/// What a user can do about an error, for front ends to phrase (a CLI names its flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// Take over the contested fields (force the apply).
    ForceConflicts,
    /// Delete and recreate the object whose immutable field changes.
    Recreate,
    /// Create the missing namespace first, or let the apply create it.
    CreateNamespace,
    /// Adopt the existing object into the release, or rename the release's objects.
    Adopt,
    /// Wait longer for the other run, or take its lock over if it was killed.
    Unlock,
    /// Plan and run again: the release changed since the plan was made.
    RunAgain,
    /// Choose a revision that exists (see the release's history).
    ChooseRevision,
    /// Write a new plan from the current live state and review it again.
    NewPlan,
    /// Write the plan with its secret values (and keep the file as secret as the token), or
    /// apply from the values instead of a plan file.
    PlanWithSecrets,
    /// Let the runner finish its jobs (wait longer, run again), or delete without draining.
    Drain,
}

/// Errors of the apply engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed (unreachable server, forbidden, invalid, ...).
    #[error("{object}: {verb} failed: {}", api_message(source))]
    Api {
        /// The object.
        object: ObjectRef,
        /// What runnerctl was doing: `apply`, `dry-run apply`, `get`, `prune`, ...
        verb: &'static str,
        /// The failed request.
        #[source]
        source: Box<kube::Error>,
    },
    /// Fields are owned by another field manager (and the apply was not forced).
    #[error(
        "{object}: apply failed: {n} field(s) owned by another field manager:\n{list}",
        n = conflicts.len(),
        list = conflicts.iter().map(|c| format!("  {} (owned by {:?})", c.field, c.manager)).collect::<Vec<_>>().join("\n")
    )]
    Conflict {
        /// The object.
        object: ObjectRef,
        /// The contested fields and their owners.
        conflicts: Vec<FieldConflict>,
        /// The server's answer.
        #[source]
        source: Box<kube::Error>,
    },
    /// A change to an immutable field (e.g. a Deployment's selector).
    #[error("{object}: an immutable field would change ({message})")]
    Immutable {
        /// The object.
        object: ObjectRef,
        /// The server's explanation.
        message: String,
        /// The server's answer, when this comes straight from a request (not from a plan).
        #[source]
        source: Option<Box<kube::Error>>,
    },
    /// The server does not serve the object's apiVersion/kind.
    #[error(
        "{object}: the server does not serve {} {} (is the CRD installed?)",
        object.api_version,
        object.kind
    )]
    UnknownKind {
        /// The object.
        object: ObjectRef,
    },
    /// The ApplySet parent exists but belongs to another tool or another ApplySet.
    #[error("{parent}: ApplySet is owned by {owner}, not runnerctl; refusing to touch it")]
    ForeignApplySet {
        /// The parent Secret.
        parent: ObjectRef,
        /// Its tooling annotation or id label, as found.
        owner: String,
    },
    /// A live object is a member of another ApplySet.
    #[error("{object}: belongs to another ApplySet ({id}); refusing to take it over")]
    ForeignMember {
        /// The object.
        object: ObjectRef,
        /// The other ApplySet id.
        id: String,
    },
    /// A live object of the same name is not a member of this release and may not be
    /// adopted (not created by helm for this release, adoption not requested).
    #[error(
        "{object}: exists and is not part of this release (owner: {owner}); refusing to modify it"
    )]
    NotOwned {
        /// The object.
        object: ObjectRef,
        /// Who it belongs to, from its labels, annotations and field managers.
        owner: String,
    },
    /// Another run holds the release's lock and did not finish in time.
    #[error(
        "{lease}: the release is locked by {holder} since {since}; another apply or uninstall is running"
    )]
    Locked {
        /// The Lease.
        lease: ObjectRef,
        /// Its holder (`runnerctl@host/pid`).
        holder: String,
        /// When it was taken.
        since: String,
    },
    /// Another run took the lock over (this run paused longer than the lease lasts).
    #[error("{lease}: lost the release's lock to another run; nothing more was written")]
    LockLost {
        /// The Lease.
        lease: ObjectRef,
    },
    /// No ApplySet parent: the release is not installed (in this namespace).
    #[error("{parent} not found: release not installed in this namespace")]
    NotInstalled {
        /// The parent Secret.
        parent: ObjectRef,
    },
    /// The revision asked for is not in the release's history (or, when none was named,
    /// there is no revision before the latest).
    #[error(
        "{}",
        match revision {
            Some(n) => format!("release {} in namespace {}: revision {n} not found (revisions: {})", parent_release(parent), ns(parent), list(available)),
            None => format!("release {} in namespace {}: no earlier revision to roll back to (revisions: {})", parent_release(parent), ns(parent), list(available)),
        }
    )]
    NoRevision {
        /// The release's ApplySet parent.
        parent: ObjectRef,
        /// The revision asked for; `None` for "the previous one".
        revision: Option<u32>,
        /// The revisions recorded, oldest first.
        available: Vec<u32>,
    },
    /// A revision applied from a plan file without secret values lacks some objects' desired
    /// state: it cannot be applied again.
    #[error(
        "revision {revision} cannot be rolled back to: it was applied from a plan without secret values and does not hold the content of {}",
        objects.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    IncompleteRevision {
        /// The revision.
        revision: u32,
        /// The objects whose content it lacks.
        objects: Vec<ObjectRef>,
    },
    /// A plan file that cannot be used as it is.
    #[error("plan file: {message}")]
    PlanFile {
        /// What is wrong.
        message: String,
    },
    /// The live state moved on since the plan was made: nothing was written.
    #[error(
        "the live state changed since the plan was made; nothing was written:\n{}",
        changed.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")
    )]
    PlanOutdated {
        /// Each object that moved, and how.
        changed: Vec<String>,
    },
    /// A plan written without secret values would create or change objects that hold
    /// secrets, whose content it does not have: nothing was written.
    #[error(
        "the plan holds no secret values, but it creates or changes objects that hold secrets: {}; nothing was written",
        objects.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    SealedChange {
        /// The objects.
        objects: Vec<ObjectRef>,
    },
    /// A rendered object is not usable (no name, no metadata).
    #[error("{object}: {message}")]
    Invalid {
        /// The object as far as known.
        object: ObjectRef,
        /// What is wrong.
        message: String,
    },
    /// Waiting for deletion timed out.
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// The timeout.
        secs: u64,
    },
    /// The runner was still finishing CI jobs when the time ran out; what it needs to clean
    /// up after them (its RBAC, token, ConfigMap) was kept.
    #[error(
        "timed out after {secs}s while the runner drains: {}; kept so the runner can still clean up its job pods: {}",
        still.join(", "),
        kept.iter().map(|o| o.to_string()).collect::<Vec<_>>().join(", ")
    )]
    Draining {
        /// What still runs: runner pods and job pods (`Pod/ns/name (Running, 12m)`).
        still: Vec<String>,
        /// The objects not deleted.
        kept: Vec<ObjectRef>,
        /// The time allowed.
        secs: u64,
    },
    /// A runner token cannot be used as asked (missing, not a glrt- token, no GitLab URL).
    #[error("{object}: {message}")]
    Token {
        /// The object (the token Secret, the Deployment).
        object: ObjectRef,
        /// What is wrong.
        message: String,
    },
    /// GitLab refused or failed a request about the token in `object`.
    #[error("{object}: GitLab: {source}")]
    Gitlab {
        /// The token Secret.
        object: ObjectRef,
        /// GitLab's answer.
        #[source]
        source: crate::gitlab::Error,
    },
    /// GitLab issued a new token but it could not be written to the Secret: the caller must
    /// keep `token` (the old one no longer works) and store it later.
    #[error(
        "{object}: GitLab issued a new runner token, but writing it failed: {}",
        api_message(source)
    )]
    TokenNotStored {
        /// The token Secret.
        object: ObjectRef,
        /// The new token (its Debug print shows nothing).
        token: crate::gitlab::Token,
        /// The failed write.
        #[source]
        source: Box<kube::Error>,
    },
    /// Several objects failed; each is listed.
    #[error("{} errors:\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
}

impl Error {
    /// Classify a failed request about `object`: field conflicts and immutable fields get
    /// their own variants, everything else is [`Error::Api`].
    pub fn api(object: &ObjectRef, verb: &'static str, source: kube::Error) -> Self {
        let object = object.clone();
        if let kube::Error::Api(s) = &source {
            if s.code == 409 && s.reason == "Conflict" && s.message.contains("conflict") {
                let conflicts = conflicts_of(s);
                if !conflicts.is_empty() {
                    return Error::Conflict {
                        object,
                        conflicts,
                        source: Box::new(source),
                    };
                }
            }
            if s.code == 422 && s.message.contains("immutable") {
                return Error::Immutable {
                    object,
                    message: s.message.clone(),
                    source: Some(Box::new(source)),
                };
            }
        }
        Error::Api {
            object,
            verb,
            source: Box::new(source),
        }
    }

    /// The HTTP status code, when the server answered.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Api { source, .. } => match source.as_ref() {
                kube::Error::Api(s) => Some(s.code),
                _ => None,
            },
            Error::Conflict { .. } => Some(409),
            Error::Immutable {
                source: Some(_), ..
            } => Some(422),
            _ => None,
        }
    }

    /// What the user can do about this error (for [`Error::Many`]: about the first member
    /// that has a remedy).
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Error::Conflict { .. } => Some(Remedy::ForceConflicts),
            Error::Immutable { .. } => Some(Remedy::Recreate),
            Error::NotOwned { .. } => Some(Remedy::Adopt),
            Error::Locked { .. } => Some(Remedy::Unlock),
            Error::LockLost { .. } => Some(Remedy::RunAgain),
            Error::NoRevision { .. } | Error::IncompleteRevision { .. } => {
                Some(Remedy::ChooseRevision)
            }
            Error::PlanOutdated { .. } | Error::PlanFile { .. } => Some(Remedy::NewPlan),
            Error::SealedChange { .. } => Some(Remedy::PlanWithSecrets),
            Error::Draining { .. } => Some(Remedy::Drain),
            Error::Api { source, .. } => match source.as_ref() {
                kube::Error::Api(s) if s.code == 404 && s.message.starts_with("namespaces \"") => {
                    Some(Remedy::CreateNamespace)
                }
                // A write conditional on a resourceVersion lost the race.
                kube::Error::Api(s) if s.code == 409 => Some(Remedy::RunAgain),
                _ => None,
            },
            Error::Many(errs) => errs.iter().find_map(Error::remedy),
            _ => None,
        }
    }

    /// Fold a list of errors into one (`Ok` when empty).
    pub(crate) fn collect(mut errs: Vec<Error>) -> Result<(), Error> {
        match errs.len() {
            0 => Ok(()),
            1 => Err(errs.remove(0)),
            _ => Err(Error::Many(errs)),
        }
    }
}

/// The release an ApplySet parent (`<release>-applyset`) belongs to.
fn parent_release(parent: &ObjectRef) -> &str {
    parent
        .name
        .strip_suffix("-applyset")
        .unwrap_or(&parent.name)
}

/// An object's namespace, `-` when it has none.
fn ns(o: &ObjectRef) -> &str {
    o.namespace.as_deref().unwrap_or("-")
}

/// `1, 2, 3`, or `none`.
fn list(numbers: &[u32]) -> String {
    if numbers.is_empty() {
        return "none".into();
    }
    numbers
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The useful part of a failed request: the server's message (`forbidden: ...` for 403), or
/// for transport errors the whole cause chain (`... connection refused`).
fn api_message(err: &kube::Error) -> ApiMessage<'_> {
    ApiMessage(err)
}

struct ApiMessage<'a>(&'a kube::Error);

impl fmt::Display for ApiMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let kube::Error::Api(s) = self.0 {
            if s.code == 403 {
                f.write_str("forbidden: ")?;
            }
            return f.write_str(if s.message.is_empty() {
                &s.reason
            } else {
                &s.message
            });
        }
        // No answer in time: runnerctl's own words, without kube's wrapper.
        if let kube::Error::Service(e) = self.0
            && let Some(no_answer) = e.downcast_ref::<crate::k8s::NoAnswer>()
        {
            return write!(f, "{no_answer}");
        }
        let mut message = self.0.to_string();
        let mut cause = std::error::Error::source(self.0);
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            cause = c.source();
        }
        f.write_str(&message)
    }
}

/// The fields and managers of an SSA conflict status.
fn conflicts_of(s: &kube::core::Status) -> Vec<FieldConflict> {
    let Some(d) = &s.details else {
        return Vec::new();
    };
    d.causes
        .iter()
        .filter(|c| c.reason == "FieldManagerConflict" || c.message.starts_with("conflict with"))
        .map(|c| FieldConflict {
            field: c.field.clone(),
            manager: c
                .message
                .split('"')
                .nth(1)
                .unwrap_or(&c.message)
                .to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(v: serde_json::Value) -> kube::Error {
        kube::Error::Api(Box::new(serde_json::from_value(v).unwrap()))
    }

    fn object(kind: &str, name: &str) -> ObjectRef {
        ObjectRef::of(
            &json!({"apiVersion":"v1","kind":kind,"metadata":{"name":name,"namespace":"ns"}}),
        )
    }

    #[test]
    fn conflict_status_is_parsed_and_keeps_its_source() {
        let s = status(json!({
            "status": "Failure", "code": 409, "reason": "Conflict",
            "message": "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas",
            "details": {"causes": [{"reason": "FieldManagerConflict",
                "message": "conflict with \"kubectl-edit\" using apps/v1", "field": ".spec.replicas"}]}
        }));
        let e = Error::api(&object("Deployment", "r"), "apply", s);
        let text = e.to_string();
        let Error::Conflict {
            object, conflicts, ..
        } = &e
        else {
            panic!("{text}");
        };
        assert_eq!(object.name, "r");
        assert_eq!(conflicts[0].manager, "kubectl-edit");
        assert!(
            text.contains(".spec.replicas (owned by \"kubectl-edit\")"),
            "{text}"
        );
        assert!(text.starts_with("Deployment/ns/r: apply failed"), "{text}");
        assert!(!text.contains("--"), "no flag in a library message: {text}");
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(e.remedy(), Some(Remedy::ForceConflicts));
        assert_eq!(e.status_code(), Some(409));
    }

    #[test]
    fn forbidden_names_object() {
        let s = status(json!({
            "status": "Failure", "code": 403, "reason": "Forbidden",
            "message": "roles.rbac.authorization.k8s.io \"x\" is forbidden: user cannot patch"
        }));
        let e = Error::api(&object("Role", "x"), "apply", s);
        assert_eq!(
            e.to_string(),
            "Role/ns/x: apply failed: forbidden: roles.rbac.authorization.k8s.io \"x\" is forbidden: user cannot patch"
        );
        assert_eq!(e.status_code(), Some(403));
        assert_eq!(e.remedy(), None);
        let Error::Api { source, .. } = &e else {
            panic!("{e}");
        };
        assert!(matches!(source.as_ref(), kube::Error::Api(_)));
    }

    #[test]
    fn immutable_and_missing_namespace_have_remedies() {
        let s = status(
            json!({"status": "Failure", "code": 422, "reason": "Invalid",
            "message": "Deployment.apps \"r\" is invalid: spec.selector: Invalid value: field is immutable"}),
        );
        let e = Error::api(&object("Deployment", "r"), "dry-run apply", s);
        assert!(
            matches!(
                e,
                Error::Immutable {
                    source: Some(_),
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.remedy(), Some(Remedy::Recreate));
        let s = status(
            json!({"status": "Failure", "code": 404, "reason": "NotFound",
            "message": "namespaces \"nope\" not found"}),
        );
        let e = Error::api(&object("ConfigMap", "c"), "dry-run apply", s);
        assert_eq!(e.remedy(), Some(Remedy::CreateNamespace));
        assert_eq!(
            e.to_string(),
            "ConfigMap/ns/c: dry-run apply failed: namespaces \"nope\" not found"
        );
        let many = Error::Many(vec![
            Error::Timeout {
                what: "x".into(),
                secs: 1,
            },
            e,
        ]);
        assert_eq!(many.remedy(), Some(Remedy::CreateNamespace));
    }
}
