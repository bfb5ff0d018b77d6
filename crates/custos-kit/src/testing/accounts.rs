//! The conformance suite of [`ConsoleAccounts`]: what every store that
//! keeps a console's accounts must do. A store's tests call [`run_all`]
//! once per backend, on a fresh store:
//!
//! ```text
//! #[tokio::test]
//! async fn console_accounts_conform() {
//!     for store in test_stores().await {
//!         custos_kit::testing::accounts::run_all(&store).await;
//!     }
//! }
//! ```
//!
//! Each check uses addresses of its own, so they can share one store; times
//! are whole seconds in 2030, so stores may keep seconds only. A failure
//! panics with what was expected.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::console::accounts::{
    AccountsError, ConsoleAccounts, LinkPurpose, NewLink, NewSession, OneTimeLink, Redemption,
};
use crate::secret;
use custos_core::access::UserEmail;

const T0: OffsetDateTime = datetime!(2030-01-01 09:00 UTC);

fn email(local: &str) -> UserEmail {
    UserEmail::parse(&format!("{local}@conformance.example")).expect("a valid address")
}

fn new_link(email: &UserEmail, purpose: LinkPurpose, created_at: OffsetDateTime) -> NewLink {
    NewLink {
        digest: secret::issue().digest,
        email: email.clone(),
        purpose,
        created_at,
        expires_at: created_at + Duration::hours(72),
    }
}

fn new_session(email: &UserEmail, created_at: OffsetDateTime) -> NewSession {
    NewSession { digest: secret::issue().digest, email: email.clone(), created_at }
}

/// Every check, in turn.
pub async fn run_all(accounts: &dyn ConsoleAccounts) {
    logins_are_made_once_per_email(accounts).await;
    links_are_found_by_digest_with_what_they_are_for(accounts).await;
    a_link_sets_the_password_once(accounts).await;
    an_expired_link_sets_nothing(accounts).await;
    redeeming_a_link_uses_up_the_others_and_ends_sessions(accounts).await;
    links_and_sessions_need_a_login_and_a_fresh_digest(accounts).await;
    sessions_are_found_touched_and_deleted_by_digest(accounts).await;
    sessions_end_per_login_and_when_idle(accounts).await;
    deleting_a_login_deletes_its_links_and_sessions(accounts).await;
    failed_sign_ins_are_kept_per_email_and_forgotten(accounts).await;
}

pub async fn logins_are_made_once_per_email(accounts: &dyn ConsoleAccounts) {
    let ann = email("login-ann");
    assert_eq!(accounts.login(&ann).await.unwrap(), None, "no login before it is made");
    let made = accounts.ensure_login(&ann, T0).await.unwrap();
    assert_eq!(made.email, ann);
    assert_eq!(made.password_hash, None, "a new login has no password");
    assert_eq!(made.created_at, T0);
    let again = accounts.ensure_login(&ann, T0 + Duration::hours(1)).await.unwrap();
    assert_eq!(again, made, "ensuring an existing login returns it unchanged");
    assert_eq!(accounts.login(&ann).await.unwrap(), Some(made));
    assert_eq!(accounts.login(&email("login-nobody")).await.unwrap(), None);
}

pub async fn links_are_found_by_digest_with_what_they_are_for(accounts: &dyn ConsoleAccounts) {
    let ann = email("link-ann");
    accounts.ensure_login(&ann, T0).await.unwrap();
    for purpose in [LinkPurpose::Invite, LinkPurpose::PasswordReset] {
        let link = new_link(&ann, purpose, T0);
        accounts.insert_link(&link).await.unwrap();
        let stored = accounts.link(&link.digest).await.unwrap();
        assert_eq!(
            stored,
            Some(OneTimeLink {
                email: ann.clone(),
                purpose,
                created_at: T0,
                expires_at: T0 + Duration::hours(72),
                used_at: None
            })
        );
    }
    assert_eq!(accounts.link(&secret::issue().digest).await.unwrap(), None);
}

pub async fn a_link_sets_the_password_once(accounts: &dyn ConsoleAccounts) {
    let ann = email("redeem-ann");
    accounts.ensure_login(&ann, T0).await.unwrap();
    let link = new_link(&ann, LinkPurpose::Invite, T0);
    accounts.insert_link(&link).await.unwrap();

    let at = T0 + Duration::hours(71);
    match accounts.redeem_link(&link.digest, "$argon2id$first", at).await.unwrap() {
        Redemption::Redeemed(redeemed) => {
            assert_eq!(redeemed.email, ann);
            assert_eq!(redeemed.purpose, LinkPurpose::Invite);
        }
        other => panic!("an unused, unexpired link is redeemed, not {other:?}"),
    }
    let login = accounts.login(&ann).await.unwrap().unwrap();
    assert_eq!(login.password_hash.as_deref(), Some("$argon2id$first"));
    assert_eq!(accounts.link(&link.digest).await.unwrap().unwrap().used_at, Some(at), "the link is marked used");

    let again = accounts.redeem_link(&link.digest, "$argon2id$second", at + Duration::minutes(1)).await.unwrap();
    assert_eq!(again, Redemption::Used, "a link is used once");
    let login = accounts.login(&ann).await.unwrap().unwrap();
    assert_eq!(login.password_hash.as_deref(), Some("$argon2id$first"), "a used link changes nothing");
    let unknown = accounts.redeem_link(&secret::issue().digest, "$argon2id$x", at).await.unwrap();
    assert_eq!(unknown, Redemption::Unknown);
}

pub async fn an_expired_link_sets_nothing(accounts: &dyn ConsoleAccounts) {
    let ann = email("expired-ann");
    accounts.ensure_login(&ann, T0).await.unwrap();
    let link = new_link(&ann, LinkPurpose::PasswordReset, T0);
    accounts.insert_link(&link).await.unwrap();
    let outcome = accounts.redeem_link(&link.digest, "$argon2id$late", link.expires_at).await.unwrap();
    assert_eq!(outcome, Redemption::Expired, "a link expires at its expiry time");
    assert_eq!(accounts.login(&ann).await.unwrap().unwrap().password_hash, None);
    assert_eq!(accounts.link(&link.digest).await.unwrap().unwrap().used_at, None, "an expired link is not marked used");
}

pub async fn redeeming_a_link_uses_up_the_others_and_ends_sessions(accounts: &dyn ConsoleAccounts) {
    let ann = email("others-ann");
    let bob = email("others-bob");
    accounts.ensure_login(&ann, T0).await.unwrap();
    accounts.ensure_login(&bob, T0).await.unwrap();
    let first = new_link(&ann, LinkPurpose::Invite, T0);
    let second = new_link(&ann, LinkPurpose::Invite, T0 + Duration::hours(1));
    let bobs = new_link(&bob, LinkPurpose::Invite, T0);
    for link in [&first, &second, &bobs] {
        accounts.insert_link(link).await.unwrap();
    }
    let anns_session = new_session(&ann, T0);
    let bobs_session = new_session(&bob, T0);
    accounts.insert_session(&anns_session).await.unwrap();
    accounts.insert_session(&bobs_session).await.unwrap();

    let at = T0 + Duration::hours(2);
    assert!(matches!(
        accounts.redeem_link(&second.digest, "$argon2id$ann", at).await.unwrap(),
        Redemption::Redeemed(_)
    ));
    assert_eq!(accounts.link(&first.digest).await.unwrap().unwrap().used_at, Some(at), "the other link is used up");
    assert_eq!(accounts.redeem_link(&first.digest, "$argon2id$other", at).await.unwrap(), Redemption::Used);
    assert_eq!(accounts.session(&anns_session.digest).await.unwrap(), None, "the login's sessions end");
    assert!(accounts.session(&bobs_session.digest).await.unwrap().is_some(), "another login's session stays");
    assert_eq!(accounts.link(&bobs.digest).await.unwrap().unwrap().used_at, None, "another login's link stays");
}

pub async fn links_and_sessions_need_a_login_and_a_fresh_digest(accounts: &dyn ConsoleAccounts) {
    let nobody = email("orphan-nobody");
    let link = new_link(&nobody, LinkPurpose::Invite, T0);
    assert!(
        matches!(accounts.insert_link(&link).await, Err(AccountsError::NoLogin(_))),
        "a link for an unknown login is refused with NoLogin"
    );
    let session = new_session(&nobody, T0);
    assert!(
        matches!(accounts.insert_session(&session).await, Err(AccountsError::NoLogin(_))),
        "a session for an unknown login is refused with NoLogin"
    );

    let ann = email("orphan-ann");
    accounts.ensure_login(&ann, T0).await.unwrap();
    let link = new_link(&ann, LinkPurpose::Invite, T0);
    accounts.insert_link(&link).await.unwrap();
    assert!(matches!(accounts.insert_link(&link).await, Err(AccountsError::Conflict(_))), "a link digest is unique");
    let session = new_session(&ann, T0);
    accounts.insert_session(&session).await.unwrap();
    assert!(
        matches!(accounts.insert_session(&session).await, Err(AccountsError::Conflict(_))),
        "a session digest is unique"
    );
}

pub async fn sessions_are_found_touched_and_deleted_by_digest(accounts: &dyn ConsoleAccounts) {
    let ann = email("session-ann");
    accounts.ensure_login(&ann, T0).await.unwrap();
    let session = new_session(&ann, T0);
    accounts.insert_session(&session).await.unwrap();
    let stored = accounts.session(&session.digest).await.unwrap().unwrap();
    assert_eq!(stored.email, ann);
    assert_eq!(stored.created_at, T0);
    assert_eq!(stored.last_seen_at, T0, "a new session was last seen when it was made");

    let later = T0 + Duration::hours(3);
    assert!(accounts.touch_session(&session.digest, later).await.unwrap());
    let stored = accounts.session(&session.digest).await.unwrap().unwrap();
    assert_eq!(stored.last_seen_at, later);
    assert_eq!(stored.created_at, T0, "touching keeps the creation time");

    assert!(accounts.delete_session(&session.digest).await.unwrap());
    assert_eq!(accounts.session(&session.digest).await.unwrap(), None);
    assert!(!accounts.delete_session(&session.digest).await.unwrap(), "deleting twice finds nothing");
    assert!(!accounts.touch_session(&session.digest, later).await.unwrap(), "a deleted session is not revived");
    assert_eq!(accounts.session(&session.digest).await.unwrap(), None);
}

pub async fn sessions_end_per_login_and_when_idle(accounts: &dyn ConsoleAccounts) {
    let ann = email("ending-ann");
    let bob = email("ending-bob");
    accounts.ensure_login(&ann, T0).await.unwrap();
    accounts.ensure_login(&bob, T0).await.unwrap();
    let anns = [new_session(&ann, T0), new_session(&ann, T0)];
    let bobs_old = new_session(&bob, T0 - Duration::days(30));
    let bobs_new = new_session(&bob, T0);
    for session in anns.iter().chain([&bobs_old, &bobs_new]) {
        accounts.insert_session(session).await.unwrap();
    }

    assert_eq!(accounts.delete_sessions_of(&ann).await.unwrap(), 2, "both of ann's sessions end");
    for session in &anns {
        assert_eq!(accounts.session(&session.digest).await.unwrap(), None);
    }
    assert!(accounts.session(&bobs_new.digest).await.unwrap().is_some(), "bob's sessions stay");

    let deleted = accounts.delete_sessions_idle_since(T0 - Duration::days(1)).await.unwrap();
    assert!(deleted >= 1, "the session idle for a month is deleted");
    assert_eq!(accounts.session(&bobs_old.digest).await.unwrap(), None);
    assert!(accounts.session(&bobs_new.digest).await.unwrap().is_some(), "a recent session stays");
}

pub async fn deleting_a_login_deletes_its_links_and_sessions(accounts: &dyn ConsoleAccounts) {
    let ann = email("delete-ann");
    accounts.ensure_login(&ann, T0).await.unwrap();
    let link = new_link(&ann, LinkPurpose::Invite, T0);
    let session = new_session(&ann, T0);
    accounts.insert_link(&link).await.unwrap();
    accounts.insert_session(&session).await.unwrap();

    assert!(accounts.delete_login(&ann).await.unwrap());
    assert_eq!(accounts.login(&ann).await.unwrap(), None);
    assert_eq!(accounts.link(&link.digest).await.unwrap(), None);
    assert_eq!(accounts.session(&session.digest).await.unwrap(), None);
    assert!(!accounts.delete_login(&ann).await.unwrap(), "deleting twice finds nothing");

    // Made again, it starts afresh: no password, no old link.
    let again = accounts.ensure_login(&ann, T0 + Duration::days(1)).await.unwrap();
    assert_eq!(again.password_hash, None);
    assert_eq!(again.created_at, T0 + Duration::days(1));
    assert_eq!(accounts.redeem_link(&link.digest, "$argon2id$x", T0).await.unwrap(), Redemption::Unknown);
}

pub async fn failed_sign_ins_are_kept_per_email_and_forgotten(accounts: &dyn ConsoleAccounts) {
    let ann = email("failures-ann");
    let stranger = email("failures-stranger");
    let times = [T0, T0 + Duration::minutes(1), T0 + Duration::minutes(2)];
    // Out of order, and for an address that has no login: both are kept.
    for at in [times[2], times[0], times[1]] {
        accounts.record_failed_sign_in(&ann, at).await.unwrap();
    }
    accounts.record_failed_sign_in(&stranger, T0).await.unwrap();
    accounts.record_failed_sign_in(&ann, T0).await.unwrap();

    let all = accounts.failed_sign_ins_since(&ann, T0).await.unwrap();
    assert_eq!(all, vec![T0, T0, times[1], times[2]], "oldest first, each failure counted");
    assert_eq!(
        accounts.failed_sign_ins_since(&ann, times[1]).await.unwrap(),
        vec![times[1], times[2]],
        "since is inclusive"
    );
    assert_eq!(accounts.failed_sign_ins_since(&stranger, T0).await.unwrap(), vec![T0]);

    accounts.clear_failed_sign_ins(&ann).await.unwrap();
    assert_eq!(accounts.failed_sign_ins_since(&ann, T0).await.unwrap(), Vec::<OffsetDateTime>::new());
    assert_eq!(accounts.failed_sign_ins_since(&stranger, T0).await.unwrap(), vec![T0], "another address keeps its own");

    accounts.record_failed_sign_in(&ann, times[2]).await.unwrap();
    let forgotten = accounts.forget_failed_sign_ins_before(times[1]).await.unwrap();
    assert!(forgotten >= 1, "the stranger's old failure is forgotten");
    assert_eq!(
        accounts.failed_sign_ins_since(&stranger, T0 - Duration::days(1)).await.unwrap(),
        Vec::<OffsetDateTime>::new()
    );
    assert_eq!(accounts.failed_sign_ins_since(&ann, T0).await.unwrap(), vec![times[2]], "recent failures stay");
}
