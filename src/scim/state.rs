//! Reading the whole SCIM side of a sync into a `DirectoryState`, in the connector's terms.
//!
//! SCIM has no "managed by": a user or group is this connector's when it carries an `externalId`
//! that is an Entra object id (the connector writes it on every create and adoption). One without
//! an externalId — an admin, a user made in the console — is the service's own
//! (`Owner::PasswordBoss`, the domain's "made in the portal"), adopted only by
//! `existingUser: Adopt`; one with another externalId is another provisioner's (`Owner::Other`),
//! never adopted, changed or deprovisioned (an `OwnedByOther` conflict). SCIM has no licences:
//! the company has room for everyone.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::client::ScimClient;
use super::config::normalised_base_url;
use super::error::ScimError;
use super::wire;
use crate::domain::{self, Account, AccountStatus, DirectoryState, Licenses, Owner, Role};
use crate::passwordboss::model::ConnectorInfo;

/// An Entra object id: a GUID, any case.
pub fn is_entra_object_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An Entra object id: this connector's. No externalId: the service's own, adoptable by rule.
/// Any other externalId: another provisioner's, never adopted or changed.
fn owner_of(external_id: Option<&str>) -> Owner {
    match external_id.map(str::trim) {
        Some(id) if is_entra_object_id(id) => Owner::AzureAd,
        None | Some("") => Owner::PasswordBoss,
        Some(_) => Owner::Other(ANOTHER_PROVISIONER.into()),
    }
}

/// The owner of a user or group whose externalId is not an Entra object id.
const ANOTHER_PROVISIONER: &str = "another provisioner (its externalId is not an Entra object id)";

impl From<wire::User> for Account {
    fn from(user: wire::User) -> Self {
        let name = user.name.unwrap_or_default();
        Self {
            owner: owner_of(user.external_id.as_deref()),
            id: user.id,
            email: user.user_name,
            first_name: name.given_name.unwrap_or_default(),
            last_name: name.family_name.unwrap_or_default(),
            status: match user.active {
                Some(false) => AccountStatus::Disabled,
                _ => AccountStatus::Active,
            },
            external_id: user.external_id,
            role: Role::User,
        }
    }
}

impl ScimClient {
    /// Discovery, then every user and every group with its members.
    /// Requests: 1 + user pages + group pages.
    ///
    /// The company is the normalised base URL. The memberships kept for this connector's groups
    /// are their members that are this connector's users: the plan never sees, and so never
    /// removes, a member someone else added (a nested group, an admin).
    pub async fn read_company(&self) -> Result<(ConnectorInfo, DirectoryState), ScimError> {
        let features = self.discover().await?;
        if !features.patch {
            return Err(ScimError::Protocol {
                what: "GET /ServiceProviderConfig".into(),
                detail: "the service does not support PATCH, which the connector needs to \
                         change users and group members without replacing them"
                    .into(),
            });
        }
        let users: Vec<Account> = self
            .list_users()
            .await?
            .into_iter()
            .map(Account::from)
            .collect();
        let groups = self.list_groups().await?;
        let owned_users: HashSet<&str> = users
            .iter()
            .filter(|u| u.owner == Owner::AzureAd)
            .map(|u| u.id.as_str())
            .collect();
        let mut memberships = BTreeMap::new();
        let mut domain_groups = Vec::with_capacity(groups.len());
        for group in groups {
            let owner = owner_of(group.external_id.as_deref());
            if owner == Owner::AzureAd {
                let members: BTreeSet<String> = group
                    .members
                    .iter()
                    .filter(|m| {
                        m.kind
                            .as_deref()
                            .is_none_or(|k| k.eq_ignore_ascii_case("User"))
                    })
                    .filter(|m| owned_users.contains(m.value.as_str()))
                    .map(|m| m.value.clone())
                    .collect();
                memberships.insert(group.id.clone(), members);
            }
            domain_groups.push(domain::Group {
                id: group.id,
                name: group.display_name,
                owner,
                external_id: group.external_id,
            });
        }
        let company = normalised_base_url(self.base_url());
        let info = ConnectorInfo {
            company_name: self.base_url().host_str().unwrap_or_default().to_owned(),
            company_id: company,
            licenses: UNLIMITED,
        };
        let state = DirectoryState {
            users,
            groups: domain_groups,
            memberships,
            licenses: UNLIMITED,
        };
        Ok((info, state))
    }
}

/// SCIM has no licences: room for every user.
const UNLIMITED: Licenses = Licenses {
    total: u32::MAX,
    used: 0,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_entra_object_id_makes_an_account_the_connectors() {
        assert!(is_entra_object_id("7c0c36f5-1b2a-4c3d-8e9f-0a1b2c3d4e5f"));
        assert!(is_entra_object_id("7C0C36F5-1B2A-4C3D-8E9F-0A1B2C3D4E5F"));
        assert!(!is_entra_object_id("okta|00u1abcd"));
        assert!(!is_entra_object_id("7c0c36f5-1b2a-4c3d-8e9f-0a1b2c3d4e5"));
        assert!(!is_entra_object_id("7c0c36f51b2a4c3d8e9f0a1b2c3d4e5f"));
        let user = |external_id: Option<&str>, active| wire::User {
            id: "1".into(),
            external_id: external_id.map(str::to_owned),
            user_name: "ada@contoso.com".into(),
            name: None,
            display_name: None,
            active,
        };
        let mine = Account::from(user(Some("7c0c36f5-1b2a-4c3d-8e9f-0a1b2c3d4e5f"), None));
        assert_eq!(mine.owner, Owner::AzureAd);
        assert_eq!(mine.status, AccountStatus::Active);
        let other = Account::from(user(Some("okta|1"), Some(false)));
        assert!(
            matches!(other.owner, Owner::Other(_)),
            "another provisioner's"
        );
        assert_eq!(other.status, AccountStatus::Disabled);
        assert_eq!(
            Account::from(user(None, Some(true))).owner,
            Owner::PasswordBoss
        );
    }
}
