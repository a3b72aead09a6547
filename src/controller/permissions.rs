//! What the controller needs of the Kubernetes API, checked before it starts: one
//! SelfSubjectAccessReview per permission, so that an identity missing one (a hand-trimmed Role,
//! `rbac.create=false` without a replacement) is told exactly what to grant, instead of watches
//! failing over and over with bare 403s.
//!
//! The reviews of every scope are sent together, at most [`REVIEWS_AT_ONCE`] in flight: the
//! cluster-wide mode asks a fixed 14 questions whatever the number of connectors or namespaces,
//! and a list of watched namespaces costs 9 per namespace, never one after another.

use std::fmt;

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

/// At most this many SelfSubjectAccessReviews in flight at once (the API server answers them
/// from its authorizer's cache, without etcd; a bound keeps a long namespace list from
/// flooding it).
pub const REVIEWS_AT_ONCE: usize = 16;

/// One permission the controller uses: a verb on a resource of an API group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
}

const fn permission(verb: &'static str, group: &'static str, resource: &'static str) -> Permission {
    Permission {
        verb,
        group,
        resource,
        subresource: None,
    }
}

/// Everything the controller does with the API, as the chart's ClusterRole/Role grants it.
pub const REQUIRED: &[Permission] = &[
    permission("list", "passwordboss.com", "azureadconnectors"),
    permission("watch", "passwordboss.com", "azureadconnectors"),
    Permission {
        verb: "patch",
        group: "passwordboss.com",
        resource: "azureadconnectors",
        subresource: Some("status"),
    },
    permission("get", "", "secrets"),
    permission("list", "", "secrets"),
    permission("watch", "", "secrets"),
    permission("create", "events.k8s.io", "events"),
    permission("patch", "events.k8s.io", "events"),
    // Workload identity per tenant: a token of the connector's ServiceAccount (TokenRequest).
    Permission {
        verb: "create",
        group: "",
        resource: "serviceaccounts",
        subresource: Some("token"),
    },
];

/// The company claims (Leases) in the operator's own namespace (`controller::companies`).
pub const CLAIMS: &[Permission] = &[
    permission("get", "coordination.k8s.io", "leases"),
    permission("list", "coordination.k8s.io", "leases"),
    permission("watch", "coordination.k8s.io", "leases"),
    permission("create", "coordination.k8s.io", "leases"),
    permission("update", "coordination.k8s.io", "leases"),
    permission("delete", "coordination.k8s.io", "leases"),
];

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(sub) = self.subresource {
            write!(f, "/{sub}")?;
        }
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        write!(f, " ({group})")
    }
}

/// Permissions the API server says this identity lacks, in one namespace or cluster-wide.
#[derive(Debug, thiserror::Error)]
pub enum PermissionError {
    #[error(
        "the operator's Kubernetes identity may not {} {scope}; grant them with the chart's \
         ClusterRole/Role (rbac.create=true) or an equivalent binding for its ServiceAccount",
        list(missing)
    )]
    Missing {
        missing: Vec<Permission>,
        scope: Scope,
    },
    #[error("cannot check the operator's permissions (SelfSubjectAccessReview): {0}")]
    Review(#[source] kube::Error),
}

fn list(missing: &[Permission]) -> String {
    missing
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the controller watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    AllNamespaces,
    Namespace(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::AllNamespaces => f.write_str("in all namespaces"),
            Scope::Namespace(ns) => write!(f, "in namespace {ns}"),
        }
    }
}

impl Scope {
    pub fn of(namespace: Option<&str>) -> Self {
        namespace.map_or(Scope::AllNamespaces, |ns| Scope::Namespace(ns.to_owned()))
    }

    fn namespace(&self) -> Option<String> {
        match self {
            Scope::AllNamespaces => None,
            Scope::Namespace(ns) => Some(ns.clone()),
        }
    }
}

/// The review the API server answers for `permission` in `scope`.
pub fn review(permission: &Permission, scope: &Scope) -> SelfSubjectAccessReview {
    SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(permission.verb.into()),
                group: Some(permission.group.into()),
                resource: Some(permission.resource.into()),
                subresource: permission.subresource.map(Into::into),
                namespace: scope.namespace(),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    }
}

/// Asks the API server about every permission in `required` for each of `scopes`, at most
/// [`REVIEWS_AT_ONCE`] reviews at once; one error per scope that lacks any, in the order of
/// `scopes`, or the first review that could not be asked.
pub async fn check_all(
    client: &Client,
    scopes: &[(Scope, &[Permission])],
) -> Result<Vec<PermissionError>, PermissionError> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let questions: Vec<(usize, SelfSubjectAccessReview, Permission)> = scopes
        .iter()
        .enumerate()
        .flat_map(|(index, (scope, required))| {
            required
                .iter()
                .map(move |permission| (index, review(permission, scope), *permission))
        })
        .collect();
    let answers: Vec<(usize, Permission, bool)> = stream::iter(questions)
        .map(move |(index, question, permission)| {
            let api = api.clone();
            async move {
                let answer = api
                    .create(&PostParams::default(), &question)
                    .await
                    .map_err(PermissionError::Review)?;
                Ok::<_, PermissionError>((
                    index,
                    permission,
                    answer.status.is_some_and(|s| s.allowed),
                ))
            }
        })
        .buffered(REVIEWS_AT_ONCE)
        .try_collect()
        .await?;
    Ok(scopes
        .iter()
        .enumerate()
        .filter_map(|(index, (scope, _))| {
            let missing: Vec<Permission> = answers
                .iter()
                .filter(|(i, _, allowed)| *i == index && !allowed)
                .map(|(_, permission, _)| *permission)
                .collect();
            (!missing.is_empty()).then(|| PermissionError::Missing {
                missing,
                scope: scope.clone(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_permission_is_named_with_its_group_and_scope() {
        let err = PermissionError::Missing {
            missing: vec![REQUIRED[2], REQUIRED[3]],
            scope: Scope::Namespace("msp-contoso".into()),
        };
        assert_eq!(
            err.to_string(),
            "the operator's Kubernetes identity may not `patch azureadconnectors/status \
             (passwordboss.com)`, `get secrets (core)` in namespace msp-contoso; grant them with \
             the chart's ClusterRole/Role (rbac.create=true) or an equivalent binding for its \
             ServiceAccount"
        );
    }

    #[test]
    fn reviews_ask_cluster_wide_or_in_the_watched_namespace() {
        let all = review(&REQUIRED[0], &Scope::of(None));
        let attrs = all.spec.resource_attributes.unwrap();
        assert_eq!(attrs.namespace, None);
        assert_eq!(attrs.group.as_deref(), Some("passwordboss.com"));
        let one = review(&REQUIRED[2], &Scope::of(Some("msp")));
        let attrs = one.spec.resource_attributes.unwrap();
        assert_eq!(attrs.namespace.as_deref(), Some("msp"));
        assert_eq!(attrs.subresource.as_deref(), Some("status"));
    }
}
