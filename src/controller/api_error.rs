//! Kubernetes API errors as a person reads them: the API server's own message and HTTP code,
//! never kube's debug rendering of the whole response.

/// What `error` says, for a status message, an Event or a log line.
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.trim().is_empty() => {
            format!("{} (HTTP {})", status.message.trim(), status.code)
        }
        kube::Error::Api(status) if !status.reason.is_empty() => {
            format!("HTTP {} {}", status.code, status.reason)
        }
        kube::Error::Api(status) => format!("HTTP {}", status.code),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    #[test]
    fn an_api_error_is_its_message_and_code_without_debug_text() {
        let error = kube::Error::Api(Box::new(
            Status::failure("serviceaccounts \"pbc\" not found", "NotFound").with_code(404),
        ));
        let text = api_message(&error);
        assert_eq!(text, "serviceaccounts \"pbc\" not found (HTTP 404)");
        assert!(!error.to_string().eq(&text), "kube's own text differs");
        let bare = kube::Error::Api(Box::new(Status::failure("", "Forbidden").with_code(403)));
        assert_eq!(api_message(&bare), "HTTP 403 Forbidden");
    }
}
