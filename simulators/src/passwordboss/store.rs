//! The simulated company's data and the contract's rules over it. Pure: no I/O, no clock of its
//! own (the caller passes `now`). Every method is one atomic API operation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::api_error::ApiError;
use super::paging::PageRequest;
use super::wire::{
    ConnectorInfo, EVERYONE_GROUP, Group, Licenses, MANAGED_BY_ACTIVE_DIRECTORY,
    MANAGED_BY_AZURE_AD, MANAGED_BY_PASSWORD_BOSS, Role, User, UserStatus, is_routable_email,
};

/// How long a repeated `Idempotency-Key` returns the first response.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A user as a test seeds it (or as `POST /v1/users` creates it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub status: UserStatus,
    pub managed_by: String,
    pub external_id: Option<String>,
    pub role: Role,
}

impl SeedUser {
    /// An active portal user (`managedBy: Password Boss`, role user).
    pub fn new(email: &str, first_name: &str, last_name: &str) -> Self {
        Self {
            email: email.to_string(),
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
            status: UserStatus::Active,
            managed_by: MANAGED_BY_PASSWORD_BOSS.to_string(),
            external_id: None,
            role: Role::User,
        }
    }

    pub fn admin(mut self) -> Self {
        self.role = Role::Admin;
        self
    }

    pub fn status(mut self, status: UserStatus) -> Self {
        self.status = status;
        self
    }

    pub fn managed_by(mut self, managed_by: &str) -> Self {
        self.managed_by = managed_by.to_string();
        self
    }

    /// Managed by Azure AD with this Entra object id.
    pub fn azure(mut self, external_id: &str) -> Self {
        self.managed_by = MANAGED_BY_AZURE_AD.to_string();
        self.external_id = Some(external_id.to_string());
        self
    }
}

/// A validated `PATCH /v1/users/{id}` body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub status: Option<UserStatus>,
    pub managed_by: Option<String>,
    pub external_id: Option<String>,
}

/// A response remembered under an idempotency key.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResponse {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

#[derive(Debug)]
pub struct Store {
    pub company_id: String,
    pub company_name: String,
    pub license_total: u32,
    users: BTreeMap<u64, User>,
    /// Lowercased email → user: emails are unique case-insensitively and immutable.
    by_email: HashMap<String, u64>,
    /// Users with status Active (licences in use).
    active: u32,
    groups: BTreeMap<u64, Group>,
    members: BTreeMap<u64, BTreeSet<String>>,
    /// Vault items an admin shared with each group in the portal (no API call shares them):
    /// deleting the group unshares them, as in Password Boss.
    shared: BTreeMap<u64, BTreeSet<String>>,
    everyone: u64,
    next_seq: u64,
    departed: Vec<User>,
    idempotency: HashMap<String, (Instant, StoredResponse)>,
    /// Size of `idempotency` at which expired keys are purged next.
    purge_idempotency_at: usize,
}

impl Store {
    pub fn new(company_id: &str, company_name: &str, license_total: u32) -> Self {
        let mut store = Self {
            company_id: company_id.to_string(),
            company_name: company_name.to_string(),
            license_total,
            users: BTreeMap::new(),
            by_email: HashMap::new(),
            active: 0,
            groups: BTreeMap::new(),
            members: BTreeMap::new(),
            shared: BTreeMap::new(),
            everyone: 0,
            next_seq: 1,
            departed: Vec::new(),
            idempotency: HashMap::new(),
            purge_idempotency_at: 0,
        };
        let everyone = store.insert_group(EVERYONE_GROUP, None, MANAGED_BY_PASSWORD_BOSS);
        store.everyone = seq_of("g_", &everyone.id).unwrap_or_default();
        store
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    pub fn licenses(&self) -> Licenses {
        Licenses {
            total: self.license_total,
            used: self.active,
        }
    }

    pub fn connector(&self) -> ConnectorInfo {
        ConnectorInfo {
            company_id: self.company_id.clone(),
            company_name: self.company_name.clone(),
            licenses: self.licenses(),
        }
    }

    pub fn users(&self) -> Vec<User> {
        self.users.values().cloned().collect()
    }

    pub fn groups(&self) -> Vec<Group> {
        self.groups.values().cloned().collect()
    }

    pub fn departed(&self) -> Vec<User> {
        self.departed.clone()
    }

    pub fn list_users(&self, page: &PageRequest) -> (Vec<User>, Option<String>) {
        page.page(&self.users)
    }

    pub fn list_groups(&self, page: &PageRequest) -> (Vec<Group>, Option<String>) {
        page.page(&self.groups)
    }

    fn user_seq(&self, id: &str) -> Result<u64, ApiError> {
        seq_of("u_", id)
            .filter(|s| self.users.contains_key(s))
            .ok_or_else(|| ApiError::not_found("user", id))
    }

    fn group_seq(&self, id: &str) -> Result<u64, ApiError> {
        seq_of("g_", id)
            .filter(|s| self.groups.contains_key(s))
            .ok_or_else(|| ApiError::not_found("group", id))
    }

    fn user_by_email(&self, email: &str) -> Option<&User> {
        self.by_email
            .get(&email.to_ascii_lowercase())
            .and_then(|seq| self.users.get(seq))
    }

    /// `POST /v1/users`: with no free licence an active request is created pending.
    pub fn create_user(&mut self, mut new: SeedUser) -> Result<User, ApiError> {
        check_names(Some(&new.first_name), Some(&new.last_name))?;
        check_managed_by(&new.managed_by)?;
        if new.status == UserStatus::Disabled {
            return Err(ApiError::bad_request(
                "invalid_request",
                "status of a new user must be active or pending",
            ));
        }
        if !is_routable_email(&new.email) {
            return Err(ApiError::bad_request(
                "invalid_email",
                format!("{:?} is not a valid, routable email address", new.email),
            ));
        }
        if new.status == UserStatus::Active && self.licenses().free() == 0 {
            new.status = UserStatus::Pending;
        }
        new.role = Role::User;
        self.seed_user(new)
    }

    /// Insert a user as given (no licence rule, any role); emails stay unique.
    pub fn seed_user(&mut self, new: SeedUser) -> Result<User, ApiError> {
        if let Some(existing) = self.user_by_email(&new.email) {
            let mut err = ApiError::conflict(
                "email_exists",
                format!("a user with email {} already exists", new.email),
            );
            err.user_id = Some(existing.id.clone());
            return Err(err);
        }
        let seq = self.take_seq();
        let user = User {
            id: format!("u_{seq}"),
            email: new.email,
            first_name: new.first_name,
            last_name: new.last_name,
            status: new.status,
            managed_by: new.managed_by,
            external_id: new.external_id,
            role: new.role,
        };
        self.by_email.insert(user.email.to_ascii_lowercase(), seq);
        if user.status == UserStatus::Active {
            self.active += 1;
        }
        self.users.insert(seq, user.clone());
        Ok(user)
    }

    /// `PATCH /v1/users/{id}` (the `email` check happens where the body is parsed).
    pub fn update_user(&mut self, id: &str, update: UserUpdate) -> Result<User, ApiError> {
        let seq = self.user_seq(id)?;
        check_names(update.first_name.as_deref(), update.last_name.as_deref())?;
        if let Some(managed_by) = &update.managed_by {
            check_managed_by(managed_by)?;
        }
        let current = self.users[&seq].status;
        if update.status == Some(UserStatus::Active)
            && current != UserStatus::Active
            && self.licenses().free() == 0
        {
            return Err(ApiError::conflict(
                "license_limit",
                format!(
                    "all {} licences are in use; free one before activating {id}",
                    self.license_total
                ),
            ));
        }
        let user = self.users.get_mut(&seq).expect("checked above");
        if let Some(v) = update.first_name {
            user.first_name = v;
        }
        if let Some(v) = update.last_name {
            user.last_name = v;
        }
        if let Some(v) = update.status {
            match (user.status == UserStatus::Active, v == UserStatus::Active) {
                (false, true) => self.active += 1,
                (true, false) => self.active -= 1,
                _ => {}
            }
            user.status = v;
        }
        if let Some(v) = update.managed_by {
            user.managed_by = v;
        }
        if let Some(v) = update.external_id {
            user.external_id = Some(v);
        }
        Ok(user.clone())
    }

    /// `DELETE /v1/users/{id}[?keepPersonalAccount=true]`.
    pub fn delete_user(&mut self, id: &str, keep_personal_account: bool) -> Result<(), ApiError> {
        let seq = self.user_seq(id)?;
        let user = self.users.remove(&seq).expect("checked above");
        self.by_email.remove(&user.email.to_ascii_lowercase());
        if user.status == UserStatus::Active {
            self.active -= 1;
        }
        for members in self.members.values_mut() {
            members.remove(&user.id);
        }
        if keep_personal_account {
            self.departed.push(user);
        }
        Ok(())
    }

    fn insert_group(&mut self, name: &str, external_id: Option<String>, managed_by: &str) -> Group {
        let seq = self.take_seq();
        let group = Group {
            id: format!("g_{seq}"),
            name: name.to_string(),
            managed_by: managed_by.to_string(),
            external_id,
        };
        self.groups.insert(seq, group.clone());
        self.members.insert(seq, BTreeSet::new());
        group
    }

    fn check_group_name(&self, name: &str, except: Option<u64>) -> Result<(), ApiError> {
        if name.trim().is_empty() {
            return Err(ApiError::bad_request(
                "invalid_request",
                "a group name must not be empty",
            ));
        }
        let taken = self
            .groups
            .iter()
            .any(|(seq, g)| Some(*seq) != except && g.name.eq_ignore_ascii_case(name));
        if taken {
            return Err(ApiError::conflict(
                "name_exists",
                format!("a group named {name} already exists"),
            ));
        }
        Ok(())
    }

    /// `POST /v1/groups`.
    pub fn create_group(
        &mut self,
        name: &str,
        external_id: Option<String>,
        managed_by: &str,
    ) -> Result<Group, ApiError> {
        check_managed_by(managed_by)?;
        self.check_group_name(name, None)?;
        Ok(self.insert_group(name, external_id, managed_by))
    }

    fn changeable_group(&self, id: &str) -> Result<u64, ApiError> {
        let seq = self.group_seq(id)?;
        if seq == self.everyone {
            return Err(ApiError::forbidden(
                "the Everyone group cannot be changed or deleted",
            ));
        }
        Ok(seq)
    }

    /// `PATCH /v1/groups/{id}` with a new name.
    pub fn rename_group(&mut self, id: &str, name: &str) -> Result<Group, ApiError> {
        let seq = self.changeable_group(id)?;
        self.check_group_name(name, Some(seq))?;
        let group = self.groups.get_mut(&seq).expect("checked above");
        group.name = name.to_string();
        Ok(group.clone())
    }

    /// `DELETE /v1/groups/{id}`.
    pub fn delete_group(&mut self, id: &str) -> Result<(), ApiError> {
        let seq = self.changeable_group(id)?;
        self.groups.remove(&seq);
        self.members.remove(&seq);
        self.shared.remove(&seq);
        Ok(())
    }

    /// Shares the vault item `item` with the group `id`, as an admin does in the portal.
    pub fn share_item(&mut self, id: &str, item: &str) -> Result<(), ApiError> {
        let seq = self.group_seq(id)?;
        self.shared.entry(seq).or_default().insert(item.to_string());
        Ok(())
    }

    /// The vault items shared with the group `id`, sorted.
    pub fn shared_items(&self, id: &str) -> Result<Vec<String>, ApiError> {
        let seq = self.group_seq(id)?;
        Ok(self
            .shared
            .get(&seq)
            .into_iter()
            .flatten()
            .cloned()
            .collect())
    }

    /// `GET /v1/groups/{id}/members`; the Everyone group holds every user.
    pub fn members(&self, id: &str) -> Result<Vec<String>, ApiError> {
        let seq = self.group_seq(id)?;
        if seq == self.everyone {
            return Ok(self.users.values().map(|u| u.id.clone()).collect());
        }
        Ok(self.members[&seq].iter().cloned().collect())
    }

    /// `PUT /v1/groups/{id}/members`: replaces the membership; every id must be a user.
    pub fn set_members(
        &mut self,
        id: &str,
        user_ids: Vec<String>,
    ) -> Result<Vec<String>, ApiError> {
        let seq = self.changeable_group(id)?;
        if let Some(unknown) = user_ids.iter().find(|u| self.user_seq(u).is_err()) {
            return Err(ApiError::not_found("user", unknown));
        }
        let set: BTreeSet<String> = user_ids.into_iter().collect();
        let list = set.iter().cloned().collect();
        self.members.insert(seq, set);
        Ok(list)
    }

    /// The first response given for `key`, when it was given less than 24 h before `now`.
    pub fn replay(&mut self, key: &str, now: Instant) -> Option<StoredResponse> {
        // Expired keys are purged once the map has doubled since the last purge (amortised O(1)
        // per request; purging on every request made 100,000 writes quadratic).
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < IDEMPOTENCY_TTL;
        if self.idempotency.len() >= self.purge_idempotency_at {
            self.idempotency.retain(|_, (at, _)| fresh(at));
            self.purge_idempotency_at = (self.idempotency.len() * 2).max(1024);
        }
        match self.idempotency.get(key) {
            Some((at, response)) if fresh(at) => Some(response.clone()),
            _ => None,
        }
    }

    pub fn remember(&mut self, key: &str, now: Instant, response: StoredResponse) {
        self.idempotency.insert(key.to_string(), (now, response));
    }
}

fn seq_of(prefix: &str, id: &str) -> Option<u64> {
    id.strip_prefix(prefix)?.parse().ok()
}

fn check_names(first: Option<&str>, last: Option<&str>) -> Result<(), ApiError> {
    if [first, last]
        .into_iter()
        .flatten()
        .any(|n| n.trim().is_empty())
    {
        return Err(ApiError::bad_request(
            "invalid_request",
            "firstName and lastName must not be empty",
        ));
    }
    Ok(())
}

fn check_managed_by(value: &str) -> Result<(), ApiError> {
    if [
        MANAGED_BY_AZURE_AD,
        MANAGED_BY_PASSWORD_BOSS,
        MANAGED_BY_ACTIVE_DIRECTORY,
    ]
    .contains(&value)
    {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_request",
            format!("managedBy must be Password Boss, Azure AD or Active Directory, got {value:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azure(email: &str, id: &str) -> SeedUser {
        SeedUser::new(email, "A", "B").azure(id)
    }

    #[test]
    fn licences_make_extra_users_pending_and_block_activation() {
        let mut s = Store::new("c_1", "Contoso", 1);
        let a = s.create_user(azure("a@contoso.com", "1")).unwrap();
        let b = s.create_user(azure("b@contoso.com", "2")).unwrap();
        assert_eq!(
            (a.status, b.status),
            (UserStatus::Active, UserStatus::Pending)
        );
        let activate = UserUpdate {
            status: Some(UserStatus::Active),
            ..Default::default()
        };
        let err = s.update_user(&b.id, activate.clone()).unwrap_err();
        assert_eq!(
            (err.status, err.code),
            (StatusCode::CONFLICT, "license_limit")
        );
        // An already active user needs no second licence.
        assert!(s.update_user(&a.id, activate).is_ok());
    }

    #[test]
    fn emails_are_unique_case_insensitively() {
        let mut s = Store::new("c_1", "Contoso", 5);
        let a = s.create_user(azure("Ada@Contoso.com", "1")).unwrap();
        let err = s.create_user(azure("ada@contoso.COM", "2")).unwrap_err();
        assert_eq!(err.code, "email_exists");
        assert_eq!(err.user_id, Some(a.id));
        let err = s.create_user(azure("ada@contoso", "3")).unwrap_err();
        assert_eq!(err.code, "invalid_email");
    }

    #[test]
    fn everyone_is_protected_and_holds_all_users() {
        let mut s = Store::new("c_1", "Contoso", 5);
        let everyone = s.groups()[0].clone();
        assert_eq!(everyone.name, EVERYONE_GROUP);
        let u = s.create_user(azure("a@contoso.com", "1")).unwrap();
        assert_eq!(s.members(&everyone.id).unwrap(), vec![u.id.clone()]);
        assert_eq!(s.delete_group(&everyone.id).unwrap_err().code, "forbidden");
        assert_eq!(
            s.rename_group(&everyone.id, "All").unwrap_err().code,
            "forbidden"
        );
        assert_eq!(
            s.set_members(&everyone.id, vec![]).unwrap_err().code,
            "forbidden"
        );
    }

    #[test]
    fn removed_users_leave_groups_and_keep_a_personal_account() {
        let mut s = Store::new("c_1", "Contoso", 5);
        let u = s.create_user(azure("a@contoso.com", "1")).unwrap();
        let g = s
            .create_group("HR", Some("e1".into()), MANAGED_BY_AZURE_AD)
            .unwrap();
        s.set_members(&g.id, vec![u.id.clone()]).unwrap();
        s.delete_user(&u.id, true).unwrap();
        assert!(s.members(&g.id).unwrap().is_empty());
        assert_eq!(s.departed().len(), 1);
        assert_eq!(s.delete_user(&u.id, false).unwrap_err().code, "not_found");
        assert_eq!(
            s.create_group("hr", None, MANAGED_BY_AZURE_AD)
                .unwrap_err()
                .code,
            "name_exists"
        );
    }

    #[test]
    fn idempotency_keys_expire_after_a_day() {
        let mut s = Store::new("c_1", "Contoso", 5);
        let t0 = Instant::now();
        let resp = StoredResponse {
            status: StatusCode::CREATED,
            body: serde_json::json!({"id": "u_1"}),
        };
        s.remember("k", t0, resp.clone());
        assert_eq!(s.replay("k", t0 + Duration::from_secs(3600)), Some(resp));
        assert_eq!(s.replay("k", t0 + IDEMPOTENCY_TTL), None);
    }

    #[test]
    fn expired_idempotency_keys_are_purged_once_the_map_has_doubled() {
        let mut s = Store::new("c_1", "Contoso", 5);
        let t0 = Instant::now();
        let resp = StoredResponse {
            status: StatusCode::CREATED,
            body: serde_json::json!({}),
        };
        assert_eq!(s.replay("first", t0), None);
        for i in 0..1024 {
            s.remember(&format!("k{i}"), t0, resp.clone());
        }
        let later = t0 + IDEMPOTENCY_TTL;
        assert_eq!(s.replay("k1", later), None);
        assert!(s.idempotency.is_empty(), "every key had expired");
        s.remember("fresh", later, resp.clone());
        assert_eq!(s.replay("fresh", later), Some(resp));
    }
}
