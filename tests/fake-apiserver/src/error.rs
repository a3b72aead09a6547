//! API errors, rendered as `meta/v1 Status` objects with the reason and code the real API server
//! uses for the same situation.

use serde_json::{Value, json};

/// One field of an `Invalid` error (`details.causes[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, ...
    pub reason: String,
    /// The message without the field, e.g. `Invalid value: "1s": must be at least 10s`.
    pub message: String,
    /// Dotted field path, e.g. `spec.interval`.
    pub field: String,
}

/// The body of an `Invalid` (422) error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// `Kind.group`, e.g. `AzureAdConnector.passwordboss.com`.
    pub kind_group: String,
    pub name: String,
    pub subject: Subject,
    pub causes: Vec<Cause>,
}

/// What the object in an error is, for `details`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub group: String,
    /// The resource (plural), as the real server reports it in `details.kind`.
    pub resource: String,
    pub name: String,
}

impl Subject {
    pub fn new(group: &str, resource: &str, name: &str) -> Self {
        Self {
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
        }
    }

    /// `azureadconnectors.passwordboss.com "x"` or `secrets "x"`.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            format!("{} {:?}", self.resource, self.name)
        } else {
            format!("{}.{} {:?}", self.resource, self.group, self.name)
        }
    }
}

/// Every failure the server reports. Messages follow the real API server's wording.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{} not found", .0.qualified())]
    NotFound(Subject),
    #[error("{} already exists", .0.qualified())]
    AlreadyExists(Subject),
    #[error(
        "Operation cannot be fulfilled on {}: {message}",
        .subject.qualified()
    )]
    Conflict { subject: Subject, message: String },
    #[error("{} {:?} is invalid: {}", .0.kind_group, .0.name, join_causes(&.0.causes))]
    Invalid(Box<Invalid>),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("the server could not find the requested resource")]
    NoRoute,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Injected { code: u16, message: String },
}

fn join_causes(causes: &[Cause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    }
}

impl ApiError {
    pub fn conflict_stale(subject: Subject) -> Self {
        Self::Conflict {
            subject,
            message: "the object has been modified; please apply your changes to the latest version and try again".into(),
        }
    }

    pub fn code(&self) -> u16 {
        match self {
            Self::NotFound(_) | Self::NoRoute => 404,
            Self::AlreadyExists(_) | Self::Conflict { .. } => 409,
            Self::Invalid(_) => 422,
            Self::Gone(_) => 410,
            Self::BadRequest(_) => 400,
            Self::Forbidden(_) => 403,
            Self::MethodNotAllowed => 405,
            Self::UnsupportedMediaType(_) => 415,
            Self::Injected { code, .. } => *code,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound(_) | Self::NoRoute => "NotFound",
            Self::AlreadyExists(_) => "AlreadyExists",
            Self::Conflict { .. } => "Conflict",
            Self::Invalid(_) => "Invalid",
            Self::Gone(_) => "Expired",
            Self::BadRequest(_) => "BadRequest",
            Self::Forbidden(_) => "Forbidden",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::UnsupportedMediaType(_) => "UnsupportedMediaType",
            Self::Injected { code, .. } => reason_for_code(*code),
        }
    }

    /// The `Status` object the real server sends for this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            Self::NotFound(s) | Self::AlreadyExists(s) | Self::Conflict { subject: s, .. } => {
                Some(json!({"name": s.name, "group": s.group, "kind": s.resource}))
            }
            Self::Invalid(invalid) => Some(json!({
                "name": invalid.subject.name,
                "group": invalid.subject.group,
                "kind": invalid.subject.resource,
                "causes": invalid.causes.iter().map(|c| json!({
                    "reason": c.reason, "message": c.message, "field": c.field,
                })).collect::<Vec<_>>(),
            })),
            _ => None,
        };
        if let Some(details) = details {
            status["details"] = details;
        }
        status
    }
}

/// The `reason` the real server uses for an HTTP code.
pub fn reason_for_code(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        504 => "Timeout",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    }
}
