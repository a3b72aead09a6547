//! The kubeconfig file tests hand to kubectl (and to anything reading `KUBECONFIG`).

/// A kubeconfig for `server` with no credentials and namespace `default`.
pub fn render(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {server}
users:
- name: fake
  user: {{}}
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: default
current-context: fake
preferences: {{}}
"
    )
}
