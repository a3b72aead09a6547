//! The Password Boss company a sync reaches, and the guard that may hold a sync back before its
//! first write: two connectors writing to one company re-link each other's accounts, so the
//! controller lets only one of them write (`controller::companies`, which claims the company by
//! its key: `CompanyRef::id`, the string the target names its company by).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::bounded::remote_text;
use crate::passwordboss::model::ConnectorInfo;
use crate::resources::CompanyRef;

type Check = dyn Fn(CompanyRef) -> BoxFuture<'static, Result<(), String>> + Send + Sync;

/// Asked once per sync, after the reads and before any Password Boss write, whether this
/// connector may write to the company its token reaches; `Err` says why not. The default admits
/// every company (the command line, which syncs one connector).
#[derive(Clone, Default)]
pub struct CompanyGuard(Option<Arc<Check>>);

impl CompanyGuard {
    pub fn new<F>(check: impl Fn(CompanyRef) -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self(Some(Arc::new(move |company| check(company).boxed())))
    }

    /// `Ok` when this sync may write to `company` (the controller's guard claims it then);
    /// otherwise what to tell the administrator.
    pub async fn check(&self, company: &CompanyRef) -> Result<(), String> {
        match &self.0 {
            Some(check) => check(company.clone()).await,
            None => Ok(()),
        }
    }
}

impl fmt::Debug for CompanyGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Some(_) => "CompanyGuard(checked)",
            None => "CompanyGuard(admits every company)",
        })
    }
}

/// Two guards are equal when they are the same guard.
impl PartialEq for CompanyGuard {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// The company `GET /v1/connector` names, cleaned for status and logs (it is remote text).
pub fn company_of(info: &ConnectorInfo) -> CompanyRef {
    CompanyRef {
        id: remote_text(&info.company_id),
        name: remote_text(&info.company_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company() -> CompanyRef {
        CompanyRef {
            id: "c_1".into(),
            name: "Contoso".into(),
        }
    }

    #[tokio::test]
    async fn the_default_guard_admits_every_company() {
        assert_eq!(CompanyGuard::default().check(&company()).await, Ok(()));
    }

    #[tokio::test]
    async fn a_guard_says_why_it_holds_a_sync() {
        let guard = CompanyGuard::new(|c| async move { Err(format!("held: {}", c.id)) });
        assert_eq!(guard.check(&company()).await, Err("held: c_1".to_string()));
        assert_eq!(guard, guard.clone());
        assert_ne!(guard, CompanyGuard::default());
    }

    #[test]
    fn the_company_name_is_cleaned_remote_text() {
        let info = ConnectorInfo {
            company_id: "c_1".into(),
            company_name: "Con\u{202E}toso".into(),
            licenses: Default::default(),
        };
        assert_eq!(company_of(&info), company());
    }
}
