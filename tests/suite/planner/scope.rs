//! `spec.scope`: which members of the sync group get an account — planner rule 0.

use crate::support::planner as support;

use pbconnector::domain::EntraSnapshot;
use pbconnector::plan::{Action, EmailAttribute, LeaveReason, LeaveRule, UserScope, apply_scope};
use support::*;

fn created(plan: &pbconnector::plan::Plan) -> Vec<&str> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::CreateUser { external_id, .. } => Some(external_id.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_default_scope_keeps_todays_behaviour_guests_and_every_domain_included() {
    let plan = Scenario::new()
        .entra(entra("member"))
        .entra(guest(entra("guest")))
        .entra(with_mail(entra("partner"), "p@fabrikam.com"))
        .plan();
    assert_eq!(created(&plan), vec!["guest", "member", "partner"]);
    assert_eq!(plan.users.in_scope, 3);
}

#[test]
fn excluded_guests_and_other_domains_get_no_account_and_do_not_count_in_scope() {
    let plan = Scenario::new()
        .entra(entra("member"))
        .entra(guest(entra("guest")))
        .entra(with_mail(entra("partner"), "p@fabrikam.com"))
        .entra(with_mail(entra("upper"), "Upper@CONTOSO.com"))
        .rules(|r| {
            r.scope = UserScope {
                exclude_guests: true,
                email_domains: vec!["Contoso.com".into()],
            }
        })
        .plan();
    assert_eq!(created(&plan), vec!["member", "upper"]);
    assert_eq!(plan.users.in_scope, 2);
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
}

#[test]
fn the_domain_is_the_one_of_the_email_attribute_in_use() {
    // mail is at fabrikam.com, the UPN at contoso.onmicrosoft.com.
    let user = with_mail(entra("a"), "a@fabrikam.com");
    let scope = UserScope {
        exclude_guests: false,
        email_domains: vec!["contoso.onmicrosoft.com".into()],
    };
    let mut snapshot = EntraSnapshot::default();
    snapshot.users.insert("a".into(), user.clone());
    let mut by_upn = snapshot.clone();
    apply_scope(&mut by_upn, &scope, EmailAttribute::UserPrincipalName);
    assert!(by_upn.users.contains_key("a"));
    apply_scope(&mut snapshot, &scope, EmailAttribute::Mail);
    assert!(snapshot.users.is_empty());
    assert!(snapshot.out_of_scope.contains("a"));
}

#[test]
fn a_managed_user_the_scope_now_excludes_leaves_by_the_removed_from_group_rule() {
    let plan = Scenario::new()
        .entra(entra("stays"))
        .account(linked("u0", "stays"))
        .entra(guest(entra("g")))
        .account(linked("u1", "g"))
        .rules(|r| {
            r.scope.exclude_guests = true;
            r.sync_rules.user_removed_from_group = LeaveRule::Remove;
            r.safety.max_deprovision_percent = 100;
        })
        .plan();
    match deprovisions(&plan).as_slice() {
        [
            Action::DeprovisionUser {
                user_id, reason, ..
            },
        ] => {
            assert_eq!(user_id, "u1");
            assert_eq!(*reason, LeaveReason::OutOfScope);
        }
        other => panic!("one deprovision expected, got {other:?}"),
    }
}

#[test]
fn narrowing_the_scope_to_exclude_90_percent_is_held_back_by_the_safety_limits() {
    let mut s = Scenario::new();
    for i in 0..100 {
        let id = format!("e{i:03}");
        let user = if i < 10 {
            entra(&id)
        } else {
            with_mail(entra(&id), &format!("{id}@fabrikam.com"))
        };
        let mut account = linked(&format!("u{i:03}"), &id);
        account.email = user.mail.clone().unwrap();
        s = s.entra(user).account(account);
    }
    // Before: every user in scope, nothing to do.
    assert!(s.plan().actions.is_empty(), "{:?}", s.plan().actions);
    // After: only contoso.com — 90 of 100 managed users leave, beyond the default limits.
    let narrowed = s.rules(|r| r.scope.email_domains = vec!["contoso.com".into()]);
    let plan = narrowed.plan();
    assert_eq!(plan.blocked_deprovisions, 90);
    assert!(deprovisions(&plan).is_empty());
    assert!(created(&plan).is_empty());
    assert_eq!(plan.users.active, 100, "no account changed");
    assert_eq!(plan.users.in_scope, 10);
    // Approved: exactly those 90 are disabled.
    let approved = narrowed.plan_approving();
    assert_eq!(deprovisions(&approved).len(), 90);
    assert_eq!(approved.users.disabled, 90);
    assert_eq!(approved.users.active, 10);
}
