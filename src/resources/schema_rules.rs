//! OpenAPI fragments for fields whose rules a plain derive cannot express (patterns, CEL).

use schemars::{Schema, SchemaGenerator, json_schema};

/// An Entra object id.
pub const GUID_PATTERN: &str =
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// A tenant: a GUID or a verified domain name.
pub const TENANT_PATTERN: &str = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63})$";
/// An endpoint: https anywhere, plain http only on a loopback address.
pub const ENDPOINT_PATTERN: &str = r"^(https://[A-Za-z0-9.-]+|http://(localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|\[::1\]))(:[0-9]{1,5})?(/[^\s?#]*)?$";
/// An RFC 3339 date (`2028-11-25`) or date-time (`2028-11-25T10:00:00Z`).
pub const DATE_PATTERN: &str = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$";
/// An email domain such as `contoso.com` (no `@`, no wildcard).
pub const EMAIL_DOMAIN_PATTERN: &str =
    r"^([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$";
/// A Kubernetes (Go) duration such as `90s`, `1m` or `1h30m`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";
/// Default Password Boss API base URL (`spec.passwordBoss.apiUrl`).
pub const DEFAULT_PASSWORDBOSS_API_URL: &str = "https://api.passwordboss.com";

pub fn guid_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": GUID_PATTERN})
}

pub fn optional_guid_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "nullable": true, "pattern": GUID_PATTERN})
}

/// `scope.emailDomains`: distinct domain names, at most 100.
pub fn email_domains_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 100,
        "x-kubernetes-list-type": "set",
        "items": {"type": "string", "maxLength": 253, "pattern": EMAIL_DOMAIN_PATTERN},
    })
}

pub fn tenant_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "maxLength": 253, "pattern": TENANT_PATTERN})
}

pub fn endpoint_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "maxLength": 2048,
        "pattern": ENDPOINT_PATTERN,
        "default": DEFAULT_PASSWORDBOSS_API_URL,
    })
}

/// `spec.scim.baseUrl`: an endpoint, required, without a default.
pub fn scim_endpoint_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "maxLength": 2048, "pattern": ENDPOINT_PATTERN})
}

pub fn optional_endpoint_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "nullable": true, "maxLength": 2048, "pattern": ENDPOINT_PATTERN})
}

/// A duration CEL's `duration()` converts without overflow: numbers of at most 6 digits (and 9
/// decimals), at most two of them in hours — under 2,000,000h in all, well inside the ~2,562,047h
/// a duration holds, whatever the 32 characters say.
pub const BOUNDED_DURATION_RE: &str =
    "^(N(ns|us|µs|ms|s|m))*(Nh)?(N(ns|us|µs|ms|s|m))*(Nh)?(N(ns|us|µs|ms|s|m))*$";

/// One number of [`BOUNDED_DURATION_RE`].
const BOUNDED_NUMBER: &str = "[0-9]{1,6}([.][0-9]{1,9})?";

/// The bounded-duration regex with its numbers spelled out.
pub fn bounded_duration_regex() -> String {
    BOUNDED_DURATION_RE.replace('N', BOUNDED_NUMBER)
}

/// A duration string with a lower bound, checked by CEL as the API server does. A duration too
/// large for CEL is refused by its own rule, with its own message, and the lower bound is only
/// evaluated on one that converts (`||` stops at `true`): otherwise the API server answered with
/// its type-conversion error.
pub fn duration_schema(_: &mut SchemaGenerator, default: &str, min: &str) -> Schema {
    let bounded = format!("self.matches('{}')", bounded_duration_regex());
    json_schema!({
        "type": "string",
        "default": default,
        "maxLength": 32,
        "pattern": DURATION_PATTERN,
        "x-kubernetes-validations": [
            {
                "rule": bounded.clone(),
                "message": "must be a duration such as 90s, 5m or 1h30m whose numbers have at \
                            most 6 digits (at most two in hours): under 2000000h in all",
            },
            {
                "rule": format!("!{bounded} || duration(self) >= duration('{min}')"),
                "message": format!("must be at least {min}"),
            },
        ],
    })
}

/// `metav1.Condition` list keyed by type, so server-side apply merges conditions one by one.
pub fn conditions_schema(g: &mut SchemaGenerator) -> Schema {
    let item = g.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>();
    json_schema!({
        "type": "array",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    })
}

pub fn optional_date_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "nullable": true, "maxLength": 64, "pattern": DATE_PATTERN})
}

/// `AzureAdApplication.spec.tenants`: one entry per tenant id (a map keyed by `tenantId`, so
/// server-side apply merges bindings one by one), at most 5000.
pub fn application_tenants_schema(g: &mut SchemaGenerator) -> Schema {
    let item = g.subschema_for::<super::application::TenantBinding>();
    json_schema!({
        "type": "array",
        "maxItems": 5000,
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["tenantId"],
    })
}

/// `spec.azure.cloud` of a connector: no schema default (the code defaults it to Public), so
/// the rule "no cloud beside applicationRef" sees only what the user wrote.
pub fn connector_cloud_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "enum": ["Public", "USGovernment", "China"],
    })
}
