//! Request paths, parsed the way the API server lays them out.

use crate::catalog::Catalog;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    Resources { group: String, version: String },
    OpenApiIndex,
    OpenApiGroupVersion { group: String, version: String },
    Resource(ResourcePath),
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

fn resource(catalog: &Catalog, group: &str, version: &str, rest: &[&str]) -> Route {
    let namespaced_plural = |p: &str| {
        catalog
            .find(group, version, p)
            .is_some_and(|r| r.namespaced)
    };
    let (namespace, tail) =
        if rest.len() >= 3 && rest[0] == "namespaces" && namespaced_plural(rest[2]) {
            (Some(rest[1].to_owned()), &rest[2..])
        } else {
            (None, rest)
        };
    if tail.is_empty() || tail.len() > 3 {
        return Route::Unknown;
    }
    Route::Resource(ResourcePath {
        group: group.into(),
        version: version.into(),
        namespace,
        plural: tail[0].into(),
        name: tail.get(1).map(|s| s.to_string()),
        subresource: tail.get(2).map(|s| s.to_string()),
    })
}

pub fn parse(path: &str, catalog: &Catalog) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez"] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["api", v] => Route::Resources {
            group: String::new(),
            version: v.to_string(),
        },
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group(g.to_string()),
        ["apis", g, v] => Route::Resources {
            group: g.to_string(),
            version: v.to_string(),
        },
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", "api", v] => Route::OpenApiGroupVersion {
            group: String::new(),
            version: v.to_string(),
        },
        ["openapi", "v3", "apis", g, v] => Route::OpenApiGroupVersion {
            group: g.to_string(),
            version: v.to_string(),
        },
        ["api", v, rest @ ..] => resource(catalog, "", v, rest),
        ["apis", g, v, rest @ ..] => resource(catalog, g, v, rest),
        _ => Route::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path, &Catalog::default()) {
            Route::Resource(r) => r,
            other => panic!("{path} parsed as {other:?}"),
        }
    }

    #[test]
    fn namespaced_cluster_and_subresource_paths() {
        let r = res("/api/v1/namespaces/ns1/secrets/s");
        assert_eq!(
            (r.namespace.as_deref(), r.plural.as_str(), r.name.as_deref()),
            (Some("ns1"), "secrets", Some("s"))
        );
        let r = res("/api/v1/namespaces/ns1");
        assert_eq!(
            (r.namespace, r.plural.as_str(), r.name.as_deref()),
            (None, "namespaces", Some("ns1"))
        );
        let r = res("/api/v1/namespaces/ns1/status");
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let r = res("/apis/coordination.k8s.io/v1/namespaces/a/leases/l");
        assert_eq!(r.group, "coordination.k8s.io");
        let r = res("/apis/apps/v1/deployments");
        assert_eq!((r.namespace, r.name), (None, None));
        assert_eq!(
            parse("/apis/apps/v1", &Catalog::default()),
            Route::Resources {
                group: "apps".into(),
                version: "v1".into()
            }
        );
    }
}
