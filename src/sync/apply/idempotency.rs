//! `Idempotency-Key`s: derived from the sync id and the action's content, so every retry of an
//! action within one sync sends the same key and the server answers it once.

use sha2::{Digest, Sha256};

use crate::plan::Action;

/// `pbc-` and the hex SHA-256 of the sync id and the action's JSON.
pub fn idempotency_key(sync_id: &str, action: &Action) -> String {
    let mut hash = Sha256::new();
    hash.update(sync_id.as_bytes());
    hash.update([0u8]);
    hash.update(serde_json::to_vec(action).expect("actions serialize"));
    format!("pbc-{}", hex::encode(hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AccountStatus;

    fn create(email: &str) -> Action {
        Action::CreateUser {
            external_id: "e1".into(),
            email: email.into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            status: AccountStatus::Active,
        }
    }

    #[test]
    fn same_action_same_sync_same_key() {
        let a = create("ada@contoso.com");
        assert_eq!(idempotency_key("s1", &a), idempotency_key("s1", &a));
        assert_ne!(idempotency_key("s1", &a), idempotency_key("s2", &a));
        assert_ne!(
            idempotency_key("s1", &a),
            idempotency_key("s1", &create("bob@contoso.com"))
        );
    }
}
