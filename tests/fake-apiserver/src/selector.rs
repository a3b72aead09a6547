//! Label selectors (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and the field
//! selectors clients use (`metadata.name`, `metadata.namespace`, `=`/`==`/`!=`).

use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label or field selector; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// Splits on commas that are not inside parentheses.
fn split_terms(s: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for ch in s.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    terms.push(current);
    terms
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn set_values(s: &str) -> Result<Vec<String>, String> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set of values, got {s:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect())
}

impl Selector {
    /// Parses a selector; the error names the bad term.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in split_terms(s) {
            let req = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==") {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once('=') {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set_values(v)?)
            } else if let Some((k, v)) = term.split_once(" in ") {
                Requirement::In(k.trim().into(), set_values(v)?)
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else if term.contains(char::is_whitespace) || term.contains('(') {
                return Err(format!("unable to parse requirement: {term:?}"));
            } else {
                Requirement::Exists(term)
            };
            requirements.push(req);
        }
        Ok(Self { requirements })
    }

    /// Whether a set of key/value pairs satisfies every requirement.
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => lookup(k).as_deref() == Some(v.as_str()),
            Requirement::NotEquals(k, v) => lookup(k).as_deref() != Some(v.as_str()),
            Requirement::In(k, vs) => lookup(k).is_some_and(|x| vs.contains(&x)),
            Requirement::NotIn(k, vs) => lookup(k).is_none_or(|x| !vs.contains(&x)),
            Requirement::Exists(k) => lookup(k).is_some(),
            Requirement::NotExists(k) => lookup(k).is_none(),
        })
    }
}

/// Label and field selectors of one request.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub labels: Selector,
    pub fields: Selector,
}

impl Filter {
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.labels.matches(|k| {
            labels
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        }) && self.fields.matches(|k| field_value(object, k))
    }
}

/// A field selector key's value: `metadata.name` → the object's name, and so on (any dotted path
/// to a string, number or boolean is accepted).
fn field_value(object: &Value, key: &str) -> Option<String> {
    let pointer = format!("/{}", key.replace('.', "/"));
    match object.pointer(&pointer) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        // Real field selectors compare absent fields as empty strings.
        _ => Some(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": {"app": "web", "tier": "front"}}})
    }

    fn labels(s: &str) -> bool {
        Filter {
            labels: Selector::parse(s).unwrap(),
            fields: Selector::default(),
        }
        .matches(&obj())
    }

    #[test]
    fn label_selector_operators() {
        assert!(labels("app=web"));
        assert!(labels("app==web,tier"));
        assert!(!labels("app!=web"));
        assert!(labels("app in (web, api)"));
        assert!(!labels("app notin (web)"));
        assert!(labels("!missing"));
        assert!(!labels("missing"));
        assert!(labels(""));
    }

    #[test]
    fn field_selector_on_name_and_namespace() {
        let f = Filter {
            labels: Selector::default(),
            fields: Selector::parse("metadata.name=a,metadata.namespace!=other").unwrap(),
        };
        assert!(f.matches(&obj()));
        let f = Filter {
            labels: Selector::default(),
            fields: Selector::parse("metadata.name=b").unwrap(),
        };
        assert!(!f.matches(&obj()));
    }
}
