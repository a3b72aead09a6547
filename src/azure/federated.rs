//! Federated (workload identity) credentials: a token another issuer — Kubernetes — signed,
//! presented to Entra as the `client_assertion`. Where it comes from is a [`FederatedTokenSource`]:
//! the TokenRequest API for a connector's own ServiceAccount (the controller), or a projected
//! token file (`$AZURE_FEDERATED_TOKEN_FILE`: the CLI, and the operator's own identity where its
//! administrator allows it). The token is asked for each time a new access token is needed.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::error::GraphError;

/// The environment variable the Azure Workload Identity webhook sets to the token file path.
pub const FEDERATED_TOKEN_FILE_ENV: &str = "AZURE_FEDERATED_TOKEN_FILE";

/// The audience Entra expects in a federated token.
pub const FEDERATED_TOKEN_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Produces a federated token. Implementations never log or print the token.
pub trait FederatedTokenSource: Send + Sync {
    /// Names where tokens come from (not the token): `serviceaccount NS/NAME`, `file PATH`.
    /// Two sources with the same id produce tokens for the same identity.
    fn id(&self) -> String;
    /// A token that is valid now.
    fn token(&self) -> BoxFuture<'_, Result<String, GraphError>>;
}

/// A shareable federated token source; equal when their ids are.
#[derive(Clone)]
pub struct FederatedToken(Arc<dyn FederatedTokenSource>);

impl FederatedToken {
    pub fn new(source: impl FederatedTokenSource + 'static) -> Self {
        Self(Arc::new(source))
    }

    /// The token file of `$AZURE_FEDERATED_TOKEN_FILE`, if it is set.
    pub fn from_env() -> Option<Self> {
        std::env::var_os(FEDERATED_TOKEN_FILE_ENV)
            .filter(|v| !v.is_empty())
            .map(|path| Self::new(TokenFile::new(path)))
    }

    pub fn id(&self) -> String {
        self.0.id()
    }

    pub async fn token(&self) -> Result<String, GraphError> {
        self.0.token().await
    }
}

impl fmt::Debug for FederatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FederatedToken({})", self.id())
    }
}

impl PartialEq for FederatedToken {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

/// A projected token file, re-read on every request (kubelet rotates it).
#[derive(Clone, Debug)]
pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl FederatedTokenSource for TokenFile {
    fn id(&self) -> String {
        format!("file {}", self.path.display())
    }

    fn token(&self) -> BoxFuture<'_, Result<String, GraphError>> {
        Box::pin(async move {
            let path = self.path.display();
            let text = tokio::fs::read_to_string(&self.path).await.map_err(|e| {
                GraphError::config(format!("cannot read the federated token file {path}: {e}"))
            })?;
            let token = text.trim();
            if token.is_empty() {
                return Err(GraphError::config(format!(
                    "the federated token file {path} is empty"
                )));
            }
            Ok(token.to_owned())
        })
    }
}
