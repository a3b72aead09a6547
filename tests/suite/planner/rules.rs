//! The planner's rules (the "sync planner" issue, items 3 and 4), one test or table per rule.

use crate::support::planner as support;

use pbconnector::domain::{AccountStatus, Owner};
use pbconnector::plan::{
    Action, ActionCounts, Approval, ConflictKind, Deprovision, EmailAttribute, ExistingUserRule,
    LeaveReason, LeaveRule, MemberRef, NewUserRule, Plan, UserChanges, UserCounts,
};
use support::*;

fn create(id: &str, email: &str, status: AccountStatus) -> Action {
    Action::CreateUser {
        external_id: id.into(),
        email: email.into(),
        first_name: FIRST.into(),
        last_name: LAST.into(),
        status,
    }
}

fn update(pb_id: &str, entra_id: &str, email: &str, changes: UserChanges) -> Action {
    Action::UpdateUser {
        user_id: pb_id.into(),
        external_id: entra_id.into(),
        email: email.into(),
        changes,
    }
}

fn adopt() -> UserChanges {
    UserChanges {
        adopt: true,
        ..UserChanges::default()
    }
}

fn enable() -> UserChanges {
    UserChanges {
        enable: true,
        ..UserChanges::default()
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

// ---- Rule 4 (no match): creates ----

#[test]
fn new_users_are_created_active_or_pending_and_disabled_ones_not_at_all() {
    let mut unknown = entra("c");
    unknown.account_enabled = None;
    let s = Scenario::new()
        .entra(entra("a"))
        .entra(disabled(entra("b")))
        .entra(unknown);
    assert_eq!(
        s.plan().actions,
        vec![
            create("a", "a@contoso.com", AccountStatus::Active),
            create("c", "c@contoso.com", AccountStatus::Active)
        ]
    );
    assert!(
        s.plan().conflicts.is_empty(),
        "a disabled user is no conflict"
    );

    let pending = s.rules(|r| r.sync_rules.new_user = NewUserRule::CreatePending);
    let plan = pending.plan();
    assert_eq!(
        plan.actions,
        vec![
            create("a", "a@contoso.com", AccountStatus::Pending),
            create("c", "c@contoso.com", AccountStatus::Pending)
        ]
    );
    assert_eq!(
        plan.users,
        UserCounts {
            in_scope: 3,
            active: 0,
            pending: 2,
            disabled: 0
        }
    );
}

// ---- Rule 1: email ----

#[test]
fn email_comes_from_mail_then_upn_and_must_be_routable() {
    let mut upn_only = entra("upn");
    upn_only.mail = Some("   ".into());
    upn_only.user_principal_name = Some("Upn.Account@Contoso.com".into());
    let guest = with_mail(
        entra("guest"),
        "guest_fabrikam.com#EXT#@contoso.onmicrosoft.com",
    );
    let s = Scenario::new()
        .entra(with_mail(entra("mail"), "Mail.Account@Contoso.com"))
        .entra(upn_only)
        .entra(guest)
        .entra(with_mail(entra("local"), "local@corp.local"));
    let plan = s.plan();
    assert_eq!(
        plan.actions,
        vec![
            create("mail", "Mail.Account@Contoso.com", AccountStatus::Active),
            create("upn", "Upn.Account@Contoso.com", AccountStatus::Active),
        ],
        "created with the address as Entra has it, the others refused"
    );
    assert_eq!(
        conflicts_of(&plan, ConflictKind::NoEmail),
        vec![(some("guest"), None), (some("local"), None)]
    );

    let by_upn = s.rules(|r| r.email_attribute = EmailAttribute::UserPrincipalName);
    let emails: Vec<_> = by_upn
        .plan()
        .actions
        .iter()
        .map(|a| match a {
            Action::CreateUser { email, .. } => email.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        emails,
        [
            "guest@contoso.onmicrosoft.com",
            "local@contoso.onmicrosoft.com",
            "mail@contoso.onmicrosoft.com",
            "Upn.Account@Contoso.com"
        ]
    );
}

#[test]
fn emails_and_names_with_hidden_characters_or_absurd_length_are_conflicts_not_writes() {
    let mut bidi_name = entra("bidi-name");
    bidi_name.given_name = Some("Ada\u{202E}nimda".into());
    let mut nul_name = entra("nul-name");
    nul_name.surname = Some("Love\0lace".into());
    let mut long_name = entra("long-name");
    long_name.given_name = Some("x".repeat(5_000));
    let s = Scenario::new()
        .entra(with_mail(
            entra("bidi-mail"),
            "ada\u{202E}moc.evil@contoso.com",
        ))
        .entra(with_mail(entra("zw-mail"), "ad\u{200B}a@contoso.com"))
        .entra(with_mail(entra("isolate"), "\u{2066}ada@contoso.com"))
        .entra(bidi_name)
        .entra(nul_name)
        .entra(long_name)
        .entra(entra("fine"));
    let plan = s.plan();
    assert_eq!(
        plan.actions,
        vec![create("fine", "fine@contoso.com", AccountStatus::Active)],
        "only the clean user is written"
    );
    assert_eq!(
        conflicts_of(&plan, ConflictKind::NoEmail),
        vec![
            (some("bidi-mail"), None),
            (some("isolate"), None),
            (some("zw-mail"), None)
        ]
    );
    let no_name = conflicts_of(&plan, ConflictKind::NoName);
    assert_eq!(no_name.len(), 3, "{no_name:?}");
    for c in &plan.conflicts {
        assert!(
            !c.message.chars().any(pbconnector::bounded::is_hidden_char),
            "conflict messages are clean: {:?}",
            c.message
        );
        assert!(c.message.len() < 2_000, "{}", c.message.len());
    }
}

// ---- Rule 2: names ----

#[test]
fn names_fall_back_to_display_name_and_none_means_no_account() {
    let mut from_display = entra("d");
    from_display.given_name = None;
    from_display.surname = None;
    from_display.display_name = Some("Grace Brewster Hopper".into());
    let mut nameless = entra("n");
    nameless.given_name = None;
    nameless.surname = None;
    nameless.display_name = Some("Reception".into());
    let plan = Scenario::new().entra(from_display).entra(nameless).plan();
    assert_eq!(
        plan.actions,
        vec![Action::CreateUser {
            external_id: "d".into(),
            email: "d@contoso.com".into(),
            first_name: "Grace".into(),
            last_name: "Brewster Hopper".into(),
            status: AccountStatus::Active,
        }]
    );
    assert_eq!(
        conflicts_of(&plan, ConflictKind::NoName),
        vec![(some("n"), some("n@contoso.com"))]
    );
}

#[test]
fn a_linked_account_without_usable_names_keeps_them_and_is_still_managed() {
    let mut nameless = disabled(entra("n"));
    nameless.given_name = None;
    nameless.surname = None;
    nameless.display_name = None;
    let plan = Scenario::new()
        .entra(nameless)
        .account(linked("u1", "n"))
        .plan_approving();
    assert_eq!(kinds(&plan.conflicts), [ConflictKind::NoName]);
    assert_eq!(plan.actions.len(), 1);
    assert!(matches!(
        &plan.actions[0],
        Action::DeprovisionUser { user_id, reason: LeaveReason::Disabled, how: Deprovision::Disable, .. } if user_id == "u1"
    ));
}

// ---- Rule 3: duplicates ----

#[test]
fn users_sharing_an_email_are_all_conflicts_and_none_is_created_or_adopted() {
    let plan = Scenario::new()
        .entra(with_mail(entra("a"), "Same@contoso.com"))
        .entra(with_mail(entra("b"), "same@CONTOSO.com"))
        .entra(entra("c"))
        .account(portal("p1", "same@contoso.com"))
        .plan();
    assert_eq!(
        plan.actions,
        vec![create("c", "c@contoso.com", AccountStatus::Active)]
    );
    assert_eq!(
        conflicts_of(&plan, ConflictKind::DuplicateEmail),
        vec![
            (some("a"), some("Same@contoso.com")),
            (some("b"), some("same@CONTOSO.com"))
        ]
    );
}

#[test]
fn a_duplicate_already_linked_by_id_is_still_managed_by_id() {
    let mut renamed = with_mail(entra("a"), "shared@contoso.com");
    renamed.given_name = Some("Augusta".into());
    let mut account = linked("u1", "a");
    account.email = "shared@contoso.com".into();
    let plan = Scenario::new()
        .entra(renamed)
        .entra(with_mail(entra("b"), "shared@contoso.com"))
        .account(account)
        .plan();
    assert_eq!(
        plan.actions,
        vec![update(
            "u1",
            "a",
            "shared@contoso.com",
            UserChanges {
                first_name: some("Augusta"),
                ..UserChanges::default()
            }
        )]
    );
    assert_eq!(
        kinds(&plan.conflicts),
        [ConflictKind::DuplicateEmail, ConflictKind::DuplicateEmail]
    );
}

// ---- Rule 4: matching ----

#[test]
fn a_portal_user_with_the_email_is_adopted_or_skipped() {
    let mut portal_user = portal("p1", "A@Contoso.com");
    portal_user.last_name = "Byron".into();
    let s = Scenario::new().entra(entra("a")).account(portal_user);
    let plan = s.plan();
    assert_eq!(
        plan.actions,
        vec![update(
            "p1",
            "a",
            "A@Contoso.com",
            UserChanges {
                last_name: some(LAST),
                adopt: true,
                ..UserChanges::default()
            }
        )]
    );
    assert!(plan.conflicts.is_empty());
    assert_eq!(plan.counts.adopted, 1);
    assert_eq!(plan.counts.updated, 0, "an adopt counts as adopted only");
    assert_eq!(plan.users.active, 1);

    let skip = s.rules(|r| r.sync_rules.existing_user = ExistingUserRule::Skip);
    let plan = skip.plan();
    assert!(plan.actions.is_empty());
    assert_eq!(
        conflicts_of(&plan, ConflictKind::ExistingUserSkipped),
        vec![(some("a"), some("a@contoso.com"))]
    );
}

#[test]
fn accounts_of_other_sources_are_never_touched() {
    let plan = Scenario::new()
        .entra(entra("a"))
        .account(owned_by(
            portal("ad1", "a@contoso.com"),
            Owner::ActiveDirectory,
        ))
        .account(owned_by(linked("ad2", "gone"), Owner::ActiveDirectory))
        .account(owned_by(linked("pb", "gone2"), Owner::PasswordBoss))
        .plan();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(
        conflicts_of(&plan, ConflictKind::OwnedByOther),
        vec![(some("a"), some("a@contoso.com"))]
    );
}

#[test]
fn an_azure_ad_account_with_a_null_or_stale_external_id_is_relinked_not_recreated() {
    let mut unlinked = linked("u1", "a");
    unlinked.external_id = None;
    let stale = status(linked("u2", "old-b"), AccountStatus::Disabled);
    let plan = Scenario::new()
        .entra(entra("a"))
        .entra(with_mail(entra("b"), "old-b@contoso.com"))
        .deleted("old-b")
        .account(unlinked)
        .account(stale)
        .rules(|r| {
            r.sync_rules.existing_user = ExistingUserRule::Skip;
            r.sync_rules.user_deleted = LeaveRule::Delete;
        })
        .plan();
    assert_eq!(
        plan.actions,
        vec![
            update("u1", "a", "a@contoso.com", adopt()),
            update(
                "u2",
                "b",
                "old-b@contoso.com",
                UserChanges {
                    enable: true,
                    adopt: true,
                    ..UserChanges::default()
                }
            ),
        ],
        "re-linking ignores existingUser and a re-linked account is not deleted"
    );
    assert_eq!(plan.counts.adopted, 2);
    assert_eq!(plan.counts.enabled, 0);
}

#[test]
fn an_email_held_by_another_in_scope_users_account_is_a_duplicate() {
    // a's email moved to b in Entra; a's account keeps the address.
    let plan = Scenario::new()
        .entra(with_mail(entra("a"), "new-a@contoso.com"))
        .entra(with_mail(entra("b"), "a@contoso.com"))
        .account(linked("u1", "a"))
        .plan();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(
        kinds(&plan.conflicts),
        [ConflictKind::DuplicateEmail, ConflictKind::EmailChanged]
    );
    assert_eq!(
        conflicts_of(&plan, ConflictKind::DuplicateEmail),
        vec![(some("b"), some("a@contoso.com"))]
    );
}

// ---- Rule 5: linked accounts ----

#[test]
fn a_changed_email_never_deletes_or_recreates_the_account() {
    let mut moved = with_mail(entra("a"), "ada.king@contoso.com");
    moved.surname = Some("King".into());
    let mut no_email = with_mail(entra("b"), "not an address");
    no_email.user_principal_name = None;
    let s = Scenario::new()
        .entra(moved)
        .entra(no_email)
        .account(linked("u1", "a"))
        .account(linked("u2", "b"))
        .rules(|r| {
            r.sync_rules.user_removed_from_group = LeaveRule::Delete;
            r.sync_rules.user_deleted = LeaveRule::Delete;
        });
    let plan = s.plan();
    assert_eq!(
        plan.actions,
        vec![update(
            "u1",
            "a",
            "a@contoso.com",
            UserChanges {
                last_name: some("King"),
                ..UserChanges::default()
            }
        )]
    );
    assert_eq!(
        conflicts_of(&plan, ConflictKind::EmailChanged),
        vec![(some("a"), some("ada.king@contoso.com"))]
    );
    assert_eq!(
        conflicts_of(&plan, ConflictKind::NoEmail),
        vec![(some("b"), None)]
    );
    assert_eq!(plan.counts.updated, 1);
}

#[test]
fn a_returning_user_is_re_enabled_while_licences_last() {
    // "a" is new and sorts first, yet the one free licence goes to the returning "b".
    let s = Scenario::new()
        .entra(entra("a"))
        .entra(entra("b"))
        .entra(entra("c"))
        .account(status(linked("u2", "b"), AccountStatus::Disabled))
        .account(status(linked("u3", "c"), AccountStatus::Disabled))
        .licences(10, 9);
    let plan = s.plan();
    assert_eq!(
        plan.actions,
        vec![
            create("a", "a@contoso.com", AccountStatus::Pending),
            update("u2", "b", "b@contoso.com", enable()),
        ],
        "enables take the licences first; creates beyond them are planned pending"
    );
    assert_eq!(
        conflicts_of(&plan, ConflictKind::NoLicense),
        vec![(some("c"), some("c@contoso.com"))]
    );
    assert_eq!(plan.counts.enabled, 1);
    assert_eq!(
        plan.users,
        UserCounts {
            in_scope: 3,
            active: 1,
            pending: 1,
            disabled: 1
        }
    );
    let ample = s.licences(10, 7);
    assert_eq!(
        ample.plan().actions[0],
        create("a", "a@contoso.com", AccountStatus::Active),
        "a create gets a licence when enables leave one"
    );
    assert!(ample.plan().conflicts.is_empty());
}

#[test]
fn pending_accounts_stay_pending_but_get_name_changes() {
    let mut renamed = entra("a");
    renamed.given_name = Some("Augusta".into());
    let plan = Scenario::new()
        .entra(renamed)
        .account(status(linked("u1", "a"), AccountStatus::Pending))
        .plan();
    assert_eq!(
        plan.actions,
        vec![update(
            "u1",
            "a",
            "a@contoso.com",
            UserChanges {
                first_name: some("Augusta"),
                ..UserChanges::default()
            }
        )]
    );
}

#[test]
fn an_unchanged_linked_user_needs_nothing() {
    let plan = Scenario::new()
        .entra(entra("a"))
        .account(linked("u1", "a"))
        .plan();
    assert!(plan.actions.is_empty() && plan.conflicts.is_empty());
    assert_eq!(plan.counts, ActionCounts::default());
}

// ---- Rule 6: leave events ----

/// Builds the account of one leaver for `reason`, plans it under `rule`, returns the
/// deprovision (how) and admin conflicts.
fn leave(
    reason: LeaveReason,
    rule: LeaveRule,
    account_status: AccountStatus,
) -> Option<Deprovision> {
    let mut s = Scenario::new()
        .entra(entra("stays"))
        .account(linked("u0", "stays"))
        .account(status(linked("u1", "x"), account_status))
        .rules(|r| {
            r.sync_rules.user_deleted = LeaveRule::Ignore;
            r.sync_rules.user_disabled = LeaveRule::Ignore;
            r.sync_rules.user_removed_from_group = LeaveRule::Ignore;
            match reason {
                LeaveReason::Deleted => r.sync_rules.user_deleted = rule,
                LeaveReason::Disabled => r.sync_rules.user_disabled = rule,
                LeaveReason::RemovedFromGroup | LeaveReason::OutOfScope => {
                    r.sync_rules.user_removed_from_group = rule
                }
            }
        });
    match reason {
        LeaveReason::Deleted => s = s.deleted("x"),
        LeaveReason::Disabled => s = s.entra(disabled(entra("x"))),
        LeaveReason::RemovedFromGroup => {}
        LeaveReason::OutOfScope => {
            s = s
                .entra(guest(entra("x")))
                .rules(|r| r.scope.exclude_guests = true)
        }
    }
    let plan = s.plan_approving();
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    match plan.actions.as_slice() {
        [] => None,
        [
            Action::DeprovisionUser {
                user_id,
                external_id,
                email,
                how,
                reason: got,
            },
        ] => {
            assert_eq!(
                (user_id.as_str(), external_id.as_deref(), email.as_str()),
                ("u1", Some("x"), "x@contoso.com")
            );
            assert_eq!(*got, reason);
            Some(*how)
        }
        other => panic!("unexpected actions {other:?}"),
    }
}

#[test]
fn each_leave_event_follows_its_rule() {
    use Deprovision as D;
    use LeaveRule as R;
    for reason in [
        LeaveReason::Deleted,
        LeaveReason::Disabled,
        LeaveReason::RemovedFromGroup,
        LeaveReason::OutOfScope,
    ] {
        for (rule, active, already_disabled) in [
            (R::Disable, Some(D::Disable), None),
            (R::Remove, Some(D::Remove), Some(D::Remove)),
            (R::Delete, Some(D::Delete), Some(D::Delete)),
            (R::Ignore, None, None),
        ] {
            assert_eq!(
                leave(reason, rule, AccountStatus::Active),
                active,
                "{reason:?} with {rule:?} (active account)"
            );
            assert_eq!(
                leave(reason, rule, AccountStatus::Disabled),
                already_disabled,
                "{reason:?} with {rule:?} (disabled account)"
            );
        }
        assert_eq!(
            leave(reason, R::Disable, AccountStatus::Pending),
            Some(D::Disable),
            "{reason:?}: a pending account is disabled"
        );
    }
}

#[test]
fn admins_and_unlinked_accounts_are_never_deprovisioned() {
    let mut unlinked = linked("u2", "y");
    unlinked.external_id = None;
    let plan = Scenario::new()
        .account(admin(linked("u1", "x")))
        .account(unlinked)
        .deleted("x")
        .rules(|r| r.sync_rules.user_deleted = LeaveRule::Delete)
        .plan_approving();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(
        conflicts_of(&plan, ConflictKind::AdminNotDeprovisioned),
        vec![(some("x"), some("x@contoso.com"))]
    );
}

#[test]
fn a_disabled_entra_user_without_a_linked_account_is_not_adopted_or_relinked() {
    // u2 still belongs to the deleted "old-b"; b, disabled, now has its email.
    let plan = Scenario::new()
        .entra(disabled(entra("a")))
        .entra(disabled(with_mail(entra("b"), "old-b@contoso.com")))
        .entra(disabled(with_mail(entra("c"), "bad")))
        .account(portal("p1", "a@contoso.com"))
        .account(linked("u2", "old-b"))
        .deleted("old-b")
        .rules(|r| {
            r.sync_rules.user_disabled = LeaveRule::Delete;
            r.sync_rules.user_deleted = LeaveRule::Disable;
        })
        .plan_approving();
    assert_eq!(
        plan.actions,
        vec![Action::DeprovisionUser {
            user_id: "u2".into(),
            external_id: some("old-b"),
            email: "old-b@contoso.com".into(),
            how: Deprovision::Disable,
            reason: LeaveReason::Deleted,
        }],
        "the portal user is untouched and the stale account follows userDeleted"
    );
    assert_eq!(kinds(&plan.conflicts), [ConflictKind::NoEmail]);
}

// ---- Rule 7: incomplete snapshot ----

#[test]
fn an_incomplete_snapshot_deprovisions_nothing_and_only_adds_members() {
    let s = Scenario::new()
        .entra(entra("a"))
        .entra(entra("b"))
        .account(linked("u1", "a"))
        .account(linked("u2", "gone"))
        .account(admin(linked("u3", "gone-admin")))
        .group(entra_group("g-hr", "HR", &["a", "b"]))
        .pb_group(pb_group("pg1", "HR", Owner::AzureAd, Some("g-hr")), &["u2"])
        .pb_group(
            pb_group("pg2", "Old", Owner::AzureAd, Some("g-old")),
            &["u1"],
        )
        .group(entra_group("g-empty", "Empty", &["not-read-yet"]))
        .pb_group(
            pb_group("pg3", "Empty", Owner::AzureAd, Some("g-empty")),
            &["u1"],
        )
        .incomplete();
    let plan = s.plan();
    assert_eq!(
        plan.actions,
        vec![
            create("b", "b@contoso.com", AccountStatus::Active),
            Action::UpdateGroup {
                group_id: "pg1".into(),
                external_id: "g-hr".into(),
                name: "HR".into(),
                rename: None,
                members: Some(vec![
                    MemberRef::User("u1".into()),
                    MemberRef::User("u2".into()),
                    MemberRef::Created("b".into()),
                ]),
            },
        ]
    );
    assert_eq!(plan.skipped_deprovisions, 1);
    assert_eq!(plan.blocked_deprovisions, 0);
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);

    let mut complete = s.clone();
    complete.snapshot.complete = true;
    let plan = complete.plan_approving();
    assert_eq!(plan.skipped_deprovisions, 0);
    assert_eq!(
        conflicts_of(&plan, ConflictKind::AdminNotDeprovisioned),
        vec![(some("gone-admin"), some("gone-admin@contoso.com"))]
    );
    assert_eq!(plan.counts.disabled, 1);
    // Old (dropped from the groups) is deleted; Empty (no member left) is kept, emptied.
    assert_eq!(plan.counts.groups_deleted, 1);
    assert!(plan.actions.iter().any(|a| matches!(
        a,
        Action::UpdateGroup { group_id, members: Some(m), .. } if group_id == "pg3" && m.is_empty()
    )));
}

// ---- Rule 8: safety ----

fn leavers(n: usize, stay: usize) -> Scenario {
    let mut s = Scenario::new();
    for i in 0..stay {
        let id = format!("s{i:03}");
        s = s
            .entra(entra(&id))
            .account(linked(&format!("us{i:03}"), &id));
    }
    for i in 0..n {
        s = s.account(linked(&format!("ul{i:03}"), &format!("l{i:03}")));
    }
    s.entra(entra("new"))
}

#[test]
fn too_many_deprovisions_by_count_are_all_blocked_and_the_rest_stands() {
    let s = leavers(3, 100).rules(|r| {
        r.safety.max_deprovisions_per_sync = 2;
        r.safety.max_deprovision_percent = 100;
    });
    let plan = s.plan();
    assert_eq!(plan.blocked_deprovisions, 3);
    assert!(deprovisions(&plan).is_empty());
    assert_eq!(
        plan.actions,
        vec![create("new", "new@contoso.com", AccountStatus::Active)]
    );
    assert_eq!(
        plan.users.disabled, 0,
        "blocked deprovisions change no count"
    );
    let within = leavers(2, 100).rules(|r| r.safety.max_deprovisions_per_sync = 2);
    assert_eq!(deprovisions(&within.plan()).len(), 2);
    assert_eq!(within.plan().blocked_deprovisions, 0);
}

#[test]
fn too_many_deprovisions_by_percent_are_blocked() {
    // 20 % of 10 managed accounts (8 staying + 2 leaving) is 2; of 8 + 3 = 11, it is 2.2.
    let ok = leavers(2, 8);
    assert_eq!(deprovisions(&ok.plan()).len(), 2);
    let blocked = leavers(3, 8);
    assert_eq!(blocked.plan().blocked_deprovisions, 3);
    assert!(deprovisions(&blocked.plan()).is_empty());
}

#[test]
fn approving_exactly_the_held_set_lets_them_through() {
    let s = leavers(5, 5);
    assert_eq!(s.plan().blocked_deprovisions, 5);
    let token = s.plan().held.expect("held").token;
    assert!(token.starts_with("5-"), "{token}");
    for wrong in ["5", "5-00000000", "4-ffffffff"] {
        let plan = s.plan_with_approval(wrong);
        assert_eq!(plan.blocked_deprovisions, 5, "approving {wrong}");
        assert!(deprovisions(&plan).is_empty());
        assert_eq!(
            plan.approval,
            Approval::NotMatching {
                given: wrong.into(),
                expected: Some(token.clone())
            }
        );
    }
    let plan = s.plan_with_approval(&token);
    assert_eq!(plan.approval, Approval::Applied(token.clone()));
    assert_eq!(plan.blocked_deprovisions, 0);
    assert_eq!(deprovisions(&plan).len(), 5);
    assert_eq!(plan.counts.disabled, 5);
    assert_eq!(plan.users.disabled, 5);
}

#[test]
fn no_deprovision_never_blocks() {
    let plan = Scenario::new()
        .entra(entra("a"))
        .rules(|r| {
            r.safety.max_deprovisions_per_sync = 0;
            r.safety.max_deprovision_percent = 0;
        })
        .plan();
    assert_eq!(plan.blocked_deprovisions, 0);
    assert_eq!(plan.actions.len(), 1);
}

// ---- Rule 9: groups ----

/// Users: a (linked u1), b (new), c (disabled in Entra, linked u3), d (linked but account disabled
/// and no licence), e (not in scope).
fn group_scenario() -> Scenario {
    Scenario::new()
        .entra(entra("a"))
        .entra(entra("b"))
        .entra(disabled(entra("c")))
        .entra(entra("d"))
        .account(linked("u1", "a"))
        .account(linked("u3", "c"))
        .account(status(linked("u4", "d"), AccountStatus::Disabled))
        .licences(5, 5)
        .rules(|r| r.sync_rules.user_disabled = LeaveRule::Ignore)
}

#[test]
fn a_new_group_is_created_with_its_members_in_scope() {
    let plan = group_scenario()
        .group(entra_group("g1", "Finance", &["a", "b", "c", "d", "e"]))
        .group(entra_group("g2", "Empty", &["c", "e"]))
        .group(entra_group(SYNC_GROUP, "Password Boss Users", &["a"]))
        .group(entra_group("g1", "Finance again", &["a"]))
        .plan();
    let groups: Vec<_> = plan
        .actions
        .iter()
        .filter(|a| !matches!(a, Action::CreateUser { .. }))
        .collect();
    assert_eq!(
        groups,
        vec![&Action::CreateGroup {
            external_id: "g1".into(),
            name: "Finance".into(),
            members: vec![MemberRef::User("u1".into()), MemberRef::Created("b".into())],
        }],
        "no empty group, no sync group, one group per id"
    );
    assert_eq!(plan.counts.groups_created, 1);
}

#[test]
fn an_existing_group_is_renamed_and_its_members_replaced() {
    let s = group_scenario()
        .group(entra_group("g1", "Finance & Ops", &["a", "b"]))
        .pb_group(
            pb_group("pg1", "Finance", Owner::AzureAd, Some("g1")),
            &["u1", "u4"],
        );
    let plan = s.plan();
    assert_eq!(
        plan.actions.last(),
        Some(&Action::UpdateGroup {
            group_id: "pg1".into(),
            external_id: "g1".into(),
            name: "Finance".into(),
            rename: some("Finance & Ops"),
            members: Some(vec![
                MemberRef::User("u1".into()),
                MemberRef::Created("b".into())
            ]),
        })
    );
    assert_eq!(plan.counts.groups_updated, 1);
}

#[test]
fn an_unchanged_group_needs_nothing_and_membership_alone_is_updated() {
    let s = group_scenario()
        .group(entra_group("g1", "Finance", &["a", "d"]))
        .pb_group(
            pb_group("pg1", "Finance", Owner::AzureAd, Some("g1")),
            &["u1"],
        );
    assert_eq!(s.plan().counts.groups_updated, 0);
    let grown = s.group(entra_group("g2", "Ops", &["a"])).pb_group(
        pb_group("pg2", "Ops", Owner::AzureAd, Some("g2")),
        &["u1", "u3"],
    );
    assert_eq!(
        grown.plan().actions[1..],
        [Action::UpdateGroup {
            group_id: "pg2".into(),
            external_id: "g2".into(),
            name: "Ops".into(),
            rename: None,
            members: Some(vec![MemberRef::User("u1".into())]),
        }]
    );
}

#[test]
fn a_group_name_held_by_another_group_is_a_conflict() {
    let plan = group_scenario()
        .group(entra_group("g1", "finance", &["a"]))
        .group(entra_group("g2", "Sales", &["a"]))
        .group(entra_group("g3", "SALES", &["a"]))
        .group(entra_group("g4", "Everyone", &["a"]))
        .pb_group(pb_group("pg0", "Finance", Owner::PasswordBoss, None), &[])
        .pb_group(pb_group("pg1", "Old", Owner::AzureAd, Some("g4")), &["u1"])
        .pb_group(pb_group("pg2", "Everyone", Owner::PasswordBoss, None), &[])
        .plan();
    let groups: Vec<_> = plan
        .actions
        .iter()
        .filter(|a| !matches!(a, Action::CreateUser { .. }))
        .collect();
    assert_eq!(
        groups,
        vec![&Action::CreateGroup {
            external_id: "g2".into(),
            name: "Sales".into(),
            members: vec![MemberRef::User("u1".into())],
        }]
    );
    assert_eq!(
        conflicts_of(&plan, pbconnector::plan::ConflictKind::GroupNameTaken),
        vec![(some("g1"), None), (some("g3"), None), (some("g4"), None)]
    );
}

/// A mirrored group with no member left is kept, emptied, never deleted (items shared with it
/// stay shared); an owned group dropped from the groups is deleted; others are untouched.
#[test]
fn emptied_groups_are_kept_dropped_groups_deleted_and_others_untouched() {
    let plan = group_scenario()
        .group(entra_group("g1", "Finance", &["c", "e"]))
        .pb_group(
            pb_group("pg1", "Finance", Owner::AzureAd, Some("g1")),
            &["u3"],
        )
        .pb_group(
            pb_group("pg2", "Gone", Owner::AzureAd, Some("g-gone")),
            &["u1"],
        )
        .pb_group(pb_group("pg3", "Unlinked", Owner::AzureAd, None), &[])
        .pb_group(
            pb_group("pg4", "Everyone", Owner::PasswordBoss, None),
            &["u1"],
        )
        .pb_group(
            pb_group("pg5", "AD", Owner::ActiveDirectory, Some("g-gone")),
            &[],
        )
        .plan();
    let groups: Vec<_> = plan
        .actions
        .iter()
        .filter(|a| !matches!(a, Action::CreateUser { .. }))
        .collect();
    assert_eq!(
        groups,
        vec![
            &Action::UpdateGroup {
                group_id: "pg1".into(),
                external_id: "g1".into(),
                name: "Finance".into(),
                rename: None,
                members: Some(Vec::new()),
            },
            &Action::DeleteGroup {
                group_id: "pg2".into(),
                name: "Gone".into()
            },
        ]
    );
    assert_eq!(plan.counts.groups_deleted, 1);
}

// ---- Rules 10 and 11: order and counts ----

#[test]
fn actions_come_in_execution_order_and_conflicts_sorted() {
    let mut renamed = entra("b");
    renamed.given_name = Some("Beatrice".into());
    let plan = Scenario::new()
        .entra(entra("z"))
        .entra(entra("c"))
        .entra(renamed)
        .entra(entra("a"))
        .entra(with_mail(entra("n2"), "bad"))
        .entra(with_mail(entra("n1"), "bad"))
        .entra(with_mail(entra("d2"), "dup@contoso.com"))
        .entra(with_mail(entra("d1"), "dup@contoso.com"))
        .account(linked("u2", "b"))
        .account(status(linked("u1", "a"), AccountStatus::Disabled))
        .account(linked("ux", "gone"))
        .group(entra_group("g2", "Beta", &["a"]))
        .group(entra_group("g1", "Alpha", &["a"]))
        .pb_group(pb_group("pg9", "Zeta", Owner::AzureAd, Some("g9")), &[])
        .pb_group(pb_group("pg8", "Eta", Owner::AzureAd, Some("g8")), &[])
        .plan_approving();
    let summary: Vec<String> = plan
        .actions
        .iter()
        .map(|a| match a {
            Action::CreateUser { external_id, .. } => format!("create {external_id}"),
            Action::UpdateUser { user_id, .. } => format!("update {user_id}"),
            Action::CreateGroup { name, .. } => format!("create group {name}"),
            Action::UpdateGroup { group_id, .. } => format!("update group {group_id}"),
            Action::DeleteGroup { name, .. } => format!("delete group {name}"),
            Action::DeprovisionUser { user_id, .. } => format!("deprovision {user_id}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "create c",
            "create z",
            "update u1",
            "update u2",
            "create group Alpha",
            "create group Beta",
            "delete group Eta",
            "delete group Zeta",
            "deprovision ux"
        ]
    );
    let conflicts: Vec<_> = plan
        .conflicts
        .iter()
        .map(|c| (c.kind, c.external_id.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        conflicts,
        [
            (ConflictKind::NoEmail, "n1".to_owned()),
            (ConflictKind::NoEmail, "n2".to_owned()),
            (ConflictKind::DuplicateEmail, "d1".to_owned()),
            (ConflictKind::DuplicateEmail, "d2".to_owned()),
        ]
    );
    assert!(
        plan.conflicts
            .iter()
            .all(|c| c.message.len() > 40 && c.message.contains(';')),
        "every message says what happened and what to do: {:?}",
        plan.conflicts
    );
    assert_eq!(
        plan.counts,
        ActionCounts {
            created: 2,
            updated: 1,
            enabled: 1,
            disabled: 1,
            groups_created: 2,
            groups_deleted: 2,
            ..ActionCounts::default()
        }
    );
    assert_eq!(
        plan.users,
        UserCounts {
            in_scope: 8,
            active: 4,
            pending: 0,
            disabled: 1
        }
    );
}

#[test]
fn removed_and_deleted_accounts_drop_out_of_the_user_counts() {
    let plan = Scenario::new()
        .entra(entra("a"))
        .account(linked("u1", "a"))
        .account(linked("u2", "x"))
        .account(status(linked("u3", "y"), AccountStatus::Pending))
        .account(portal("p1", "p@contoso.com"))
        .deleted("y")
        .rules(|r| {
            r.sync_rules.user_removed_from_group = LeaveRule::Remove;
            r.sync_rules.user_deleted = LeaveRule::Delete;
        })
        .plan_approving();
    assert_eq!((plan.counts.removed, plan.counts.deleted), (1, 1));
    assert_eq!(
        plan.users,
        UserCounts {
            in_scope: 1,
            active: 1,
            pending: 0,
            disabled: 0
        }
    );
}

/// Emails differing in bytes that only look like a case change (`^` and `~`, `é` and `É`) are
/// different emails: the linked account's email is reported changed, and the account is kept.
#[test]
fn emails_differing_in_more_than_ascii_case_are_changed_emails() {
    for (entra_mail, account_mail) in [
        ("a~b@contoso.com", "a^b@contoso.com"),
        ("zoË@contoso.com", "zoë@contoso.com"),
    ] {
        let mut account = linked("u1", "a");
        account.email = account_mail.into();
        let plan = Scenario::new()
            .entra(with_mail(entra("a"), entra_mail))
            .account(account)
            .plan();
        assert!(plan.actions.is_empty(), "{entra_mail}: {:?}", plan.actions);
        assert_eq!(
            conflicts_of(&plan, ConflictKind::EmailChanged),
            vec![(some("a"), some(entra_mail))],
            "{entra_mail} vs {account_mail}"
        );
    }
}

/// A token names a set, not a size: the approval of five leavers does not approve five others
/// (the old count-based approval did), and a token of an empty hold approves nothing.
#[test]
fn a_stale_approval_of_an_equal_count_approves_nothing() {
    let first = leavers(5, 5);
    let token = first.plan().held.expect("held").token;
    // Five others leave instead (the first five came back).
    let mut other = Scenario::new();
    for i in 0..5 {
        let id = format!("s{i:03}");
        other = other
            .entra(entra(&id))
            .account(linked(&format!("us{i:03}"), &id));
    }
    for i in 0..5 {
        let id = format!("l{i:03}");
        other = other
            .entra(entra(&id))
            .account(linked(&format!("ul{i:03}"), &id));
    }
    for i in 0..5 {
        other = other.account(linked(&format!("uk{i:03}"), &format!("k{i:03}")));
    }
    let held = other.plan().held.expect("held");
    assert_eq!(held.users.len(), 5);
    assert_ne!(held.token, token);
    let plan = other.plan_with_approval(&token);
    assert!(deprovisions(&plan).is_empty(), "{:?}", plan.actions);
    assert_eq!(
        plan.approval,
        Approval::NotMatching {
            given: token,
            expected: Some(held.token)
        }
    );
}

/// Group deletes and member removals count in the same budget as deprovisions: a group shrunk
/// by more than the limit is held, with every other destructive change.
#[test]
fn member_removals_count_against_the_limits_and_groups_only_grow_while_held() {
    let mut s = Scenario::new().rules(|r| r.safety.max_deprovisions_per_sync = 2);
    let mut members = Vec::new();
    for i in 0..10 {
        let id = format!("m{i:03}");
        s = s
            .entra(entra(&id))
            .account(linked(&format!("um{i:03}"), &id));
        members.push(format!("um{i:03}"));
    }
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    // In Entra only three are still in the group; in Password Boss all ten are.
    let s = s
        .group(entra_group("g-team", "Team", &["m000", "m001", "m002"]))
        .pb_group(
            pb_group("pg-team", "Team", Owner::AzureAd, Some("g-team")),
            &refs,
        );
    let plan = s.plan();
    let held = plan.held.clone().expect("7 removals are over 2");
    assert_eq!(held.group_changes, 7);
    assert!(held.users.is_empty());
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::UpdateGroup { .. })),
        "the membership stays as it is: {:?}",
        plan.actions
    );
    let approved = s.plan_with_approval(&held.token);
    assert!(approved.held.is_none());
    assert!(approved.actions.iter().any(|a| matches!(
        a,
        Action::UpdateGroup { members: Some(m), .. } if m.len() == 3
    )));
}

/// An owned group dropped from the groups is deleted only once it has been out of them for
/// `removalGracePeriod` (kept as it is meanwhile, its time kept in the record), and the delete is
/// counted in the safety budget: held back over the limits, without its grace period starting
/// again. Back in the groups before that, it is not deleted and leaves the record.
#[test]
fn a_dropped_group_waits_for_the_grace_period_then_counts_in_the_budget() {
    let day = std::time::Duration::from_secs(86_400);
    let s = Scenario::new()
        .entra(entra("e1"))
        .account(linked("u1", "e1"))
        .pb_group(
            pb_group("pg-hr", "HR", Owner::AzureAd, Some("g-hr")),
            &["u1"],
        )
        .rules(|r| r.safety.removal_grace_period = day);
    let deletes = |p: &Plan| {
        p.actions
            .iter()
            .filter(|a| matches!(a, Action::DeleteGroup { .. }))
            .count()
    };
    let first = s.plan();
    assert_eq!(deletes(&first), 0, "{:?}", first.actions);
    assert!(
        first.actions.is_empty(),
        "kept as it is: {:?}",
        first.actions
    );
    assert_eq!(first.groups_waiting_for_grace, 1);
    assert_eq!(first.record.leaving_groups.len(), 1);
    assert_eq!(first.record.leaving_groups[0].entra_id, "g-hr");
    assert_eq!(first.record.leaving_groups[0].since, at());

    let mut almost = s.clone();
    almost.input.record = first.record.clone();
    almost.input.now = at() + day - std::time::Duration::from_secs(1);
    let plan = almost.plan();
    assert_eq!(deletes(&plan), 0);
    assert_eq!(plan.record.leaving_groups, first.record.leaving_groups);

    let mut due = almost.clone();
    due.input.now = at() + day;
    let plan = due.plan();
    assert_eq!(deletes(&plan), 1, "{:?}", plan.actions);
    assert_eq!(plan.groups_waiting_for_grace, 0);

    // Counted in the budget: over the limits the delete is held, and the record keeps the time
    // the group left, so the delete is still due once approved.
    let mut limited = due.clone();
    limited.rules.safety.max_deprovisions_per_sync = 0;
    let held = limited.plan();
    assert_eq!(deletes(&held), 0);
    let token = held
        .held
        .as_ref()
        .expect("the delete is held")
        .token
        .clone();
    assert_eq!(held.held.as_ref().unwrap().group_changes, 1);
    assert_eq!(held.record.leaving_groups, first.record.leaving_groups);
    assert_eq!(deletes(&limited.plan_with_approval(&token)), 1);

    // Back in the groups: not deleted, and no longer leaving.
    let back = due.group(entra_group("g-hr", "HR", &["e1"]));
    let plan = back.plan();
    assert_eq!(deletes(&plan), 0);
    assert!(plan.record.leaving_groups.is_empty());
}

/// A mirrored group Entra could not give this sync is a `GroupUnavailable` conflict, and while
/// any is, no group the snapshot leaves out is deleted (it may be the unreadable one); the other
/// groups and the users still sync.
#[test]
fn an_unreadable_mirrored_group_deletes_no_group_and_is_a_conflict() {
    let mut s = Scenario::new()
        .entra(entra("e1"))
        .account(linked("u1", "e1"))
        .group(entra_group("g-sales", "Sales", &["e1"]))
        .pb_group(
            pb_group("pg-hr", "HR", Owner::AzureAd, Some("g-hr")),
            &["u1"],
        )
        .pb_group(
            pb_group("pg-sales", "Sales", Owner::AzureAd, Some("g-sales")),
            &[],
        );
    // Without the problem, HR (owned, no longer mirrored) is deleted.
    assert!(s.plan().actions.iter().any(|a| matches!(
        a,
        Action::DeleteGroup { group_id, .. } if group_id == "pg-hr"
    )));
    s.snapshot
        .group_problems
        .push(pbconnector::domain::GroupProblem {
            selector: "displayName: HR".into(),
            group_id: Some("g-hr".into()),
            message: "Entra answered 403 on the members of HR".into(),
        });
    let plan = s.plan();
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::DeleteGroup { .. })),
        "{:?}",
        plan.actions
    );
    assert!(plan.actions.iter().any(|a| matches!(
        a,
        Action::UpdateGroup { group_id, .. } if group_id == "pg-sales"
    )));
    assert_eq!(
        conflicts_of(&plan, ConflictKind::GroupUnavailable),
        vec![(Some("g-hr".to_string()), None)]
    );
}

/// An Azure AD account holding a member's email, linked to a user Graph does not know in this
/// tenant (`snapshot.foreign`), is another connector's: `OwnedByOther`, not re-linked and not
/// deprovisioned. One linked to a user of this tenant out of scope is re-linked as before.
#[test]
fn an_account_of_another_tenant_is_never_re_linked_or_deprovisioned() {
    let mut other = linked("u-other", "x-other");
    other.email = email_of("e1");
    let s = Scenario::new().entra(entra("e1")).account(other);
    let relinked = s.plan();
    assert!(
        relinked.actions.iter().any(|a| matches!(
            a,
            Action::UpdateUser { user_id, changes, .. } if user_id == "u-other" && changes.adopt
        )),
        "a stale link of this tenant is re-linked: {:?}",
        relinked.actions
    );
    let mut s = s;
    s.snapshot.foreign.insert("x-other".into());
    let plan = s.plan();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(
        conflicts_of(&plan, ConflictKind::OwnedByOther),
        vec![(Some("e1".to_string()), Some(email_of("e1")))]
    );
}

// ---- The operator's fleet-wide freeze ----

/// Under the freeze every destructive change is held whatever the limits — one deprovision well
/// within them, a shrunk group, a group delete — while creates and updates go on; nothing is
/// spent from the window and the held set has no token.
#[test]
fn the_freeze_holds_every_destructive_change_within_the_limits_and_lets_creates_through() {
    let mut s = leavers(1, 100)
        .group(entra_group("g-team", "Team", &["s000"]))
        .pb_group(
            pb_group("pg-team", "Team", Owner::AzureAd, Some("g-team")),
            &["us000", "us001"],
        )
        .pb_group(
            pb_group("pg-old", "Old", Owner::AzureAd, Some("g-old")),
            &[],
        );
    let free = s.plan();
    assert!(free.held.is_none(), "within the limits: {:?}", free.held);
    assert_eq!(deprovisions(&free).len(), 1);
    assert!(
        free.actions
            .iter()
            .any(|a| matches!(a, Action::DeleteGroup { .. }))
    );
    assert!(!free.record.spent.is_empty(), "spent from the window");

    s.input = s.input.clone().freezing();
    let plan = s.plan();
    assert!(plan.frozen);
    let held = plan
        .held
        .clone()
        .expect("frozen: everything destructive is held");
    assert!(held.frozen);
    assert!(held.token.is_empty(), "no token: {held:?}");
    assert_eq!(held.limit, pbconnector::plan::FROZEN);
    assert_eq!(held.users.len(), 1);
    assert_eq!(plan.blocked_deprovisions, 1);
    // The group delete and us001 removed from Team are the group changes.
    assert_eq!(held.group_changes, 2, "{held:?}");
    assert!(deprovisions(&plan).is_empty());
    assert!(
        !plan.actions.iter().any(|a| matches!(
            a,
            Action::DeleteGroup { .. }
                | Action::UpdateGroup {
                    members: Some(_),
                    ..
                }
        )),
        "{:?}",
        plan.actions
    );
    assert!(
        plan.actions
            .contains(&create("new", "new@contoso.com", AccountStatus::Active)),
        "creates go on: {:?}",
        plan.actions
    );
    assert!(
        plan.record.spent.is_empty(),
        "nothing spent: {:?}",
        plan.record
    );
    assert_eq!(plan.users.disabled, 0, "held deprovisions change no count");
}

/// No approval releases the freeze: not the token the limits would give, not an empty one.
#[test]
fn no_approval_releases_the_freeze() {
    let over = leavers(5, 5);
    let token = over.plan().held.expect("over the limits").token;
    let mut frozen = over.clone();
    frozen.input = frozen.input.clone().freezing();
    for given in [token.as_str(), ""] {
        let plan = frozen.plan_with_approval(given);
        assert_eq!(plan.approval, Approval::Frozen(given.into()));
        assert_eq!(plan.blocked_deprovisions, 5);
        assert!(deprovisions(&plan).is_empty());
        assert!(plan.record.approvals_used.is_empty(), "{:?}", plan.record);
    }
    // Lifted, the same token applies exactly as before.
    let plan = over.plan_with_approval(&token);
    assert_eq!(plan.approval, Approval::Applied(token));
    assert_eq!(deprovisions(&plan).len(), 5);
}

/// Frozen with nothing destructive to do: nothing held, and the plan says it was frozen.
#[test]
fn the_freeze_with_nothing_destructive_holds_nothing() {
    let mut s = Scenario::new().entra(entra("a"));
    s.input = s.input.clone().freezing();
    let plan = s.plan();
    assert!(plan.frozen);
    assert!(plan.held.is_none());
    assert_eq!(plan.actions.len(), 1);
}
