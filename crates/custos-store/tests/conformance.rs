//! The storage conformance suite: every test runs against SQLite and, when
//! `CUSTOS_TEST_DATABASE_URL` is set, against PostgreSQL (in a fresh schema).

use std::sync::Arc;

use custos_core::access::{validate_manifest, Manifest, RoleDraft, TaskDraft};
use custos_core::ids::{AccountId, OrgId};
use custos_core::scope::Scope;
use custos_store::*;
use time::{Duration, OffsetDateTime};

struct Backend {
    store: Arc<dyn Store>,
    _source: testing::TestSource,
}

async fn backends() -> Vec<Backend> {
    let mut backends = Vec::new();
    for source in testing::test_sources().await {
        backends.push(Backend { store: open(&source.source).await.unwrap(), _source: source });
    }
    backends
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

/// The time `ms` milliseconds after the Unix epoch: the times of profiles
/// and data subject requests are stored in milliseconds.
fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::milliseconds(ms)
}

/// A lease of `ms` milliseconds.
fn lease(ms: u64) -> std::time::Duration {
    std::time::Duration::from_millis(ms)
}

fn hashed(key: &str) -> HashedKey {
    HashedKey {
        key: key.to_owned(),
        secret_hash: format!("hash-of-{key}"),
        secret_sealed: Some(format!("sealed-{key}")),
    }
}

fn new_credential(client_id: &str, scopes: &[Scope]) -> NewApiCredential {
    NewApiCredential {
        client_id: client_id.to_owned(),
        secret_hash: format!("hash-of-{client_id}"),
        name: format!("{client_id} name"),
        scopes: scopes.to_vec(),
        now: now(),
    }
}

async fn new_org(store: &dyn Store, tag: &str) -> CreatedOrganization {
    store
        .create_organization(NewOrganization {
            name: format!("org {tag}"),
            workspace: hashed(&format!("ws-{tag}")),
            web_input: hashed(&format!("web-{tag}")),
            server_input: hashed(&format!("s2s-{tag}")),
            api_credential: new_credential(&format!("client-{tag}"), &Scope::ALL),
            now: now(),
        })
        .await
        .unwrap()
}

fn manifest(roles: &[(&str, &str, &[&str])]) -> Manifest {
    validate_manifest(
        roles
            .iter()
            .map(|(role_id, name, tasks)| RoleDraft {
                role_id: Some((*role_id).into()),
                name: Some((*name).into()),
                description: Some(format!("{name} description")),
                tasks: Some(tasks.iter().map(|t| TaskDraft { task_id: Some((*t).into()) }).collect()),
            })
            .collect(),
    )
    .unwrap()
}

#[tokio::test]
async fn organizations_are_created_with_an_account_and_a_workspace() {
    for Backend { store, .. } in backends().await {
        assert_eq!(store.count_organizations().await.unwrap(), 0);
        let a = new_org(&*store, "a").await;
        let b = new_org(&*store, "b").await;
        assert_ne!(a.org_id, b.org_id);
        assert_eq!(store.count_organizations().await.unwrap(), 2);
        assert!(store.account_in_org(a.org_id, a.account_id).await.unwrap());
        assert!(!store.account_in_org(a.org_id, b.account_id).await.unwrap(), "{}", store.backend());
        assert!(!store.account_in_org(OrgId(999_999), AccountId(1)).await.unwrap());
        let second = store.create_account(a.org_id, "second", now()).await.unwrap();
        assert!(store.account_in_org(a.org_id, second).await.unwrap());
        assert!(!store.account_in_org(b.org_id, second).await.unwrap());
        assert!(matches!(store.create_account(OrgId(999_999), "x", now()).await, Err(StoreError::NotFound)));
    }
}

#[tokio::test]
async fn duplicate_keys_are_conflicts_and_leave_nothing_behind() {
    for Backend { store, .. } in backends().await {
        new_org(&*store, "a").await;
        let mut again = NewOrganization {
            name: "dup".into(),
            workspace: hashed("ws-other"),
            web_input: hashed("web-a"),
            server_input: hashed("s2s-other"),
            api_credential: new_credential("client-other", &[Scope::Profile]),
            now: now(),
        };
        let err = store.create_organization(again.clone()).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert_eq!(store.count_organizations().await.unwrap(), 1, "{}: rolled back", store.backend());
        again.web_input = hashed("web-other");
        store.create_organization(again).await.unwrap();
    }
}

#[tokio::test]
async fn api_credentials_are_found_listed_and_deleted_with_their_tokens() {
    for Backend { store, .. } in backends().await {
        let org = new_org(&*store, "a").await;
        let created =
            store.create_api_credential(org.org_id, new_credential("profile-only", &[Scope::Profile])).await.unwrap();
        assert_eq!(created.scopes, vec![Scope::Profile]);
        let err = store.create_api_credential(org.org_id, new_credential("profile-only", &[])).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)));
        let err = store.create_api_credential(OrgId(424_242), new_credential("x", &[])).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound));

        let found = store.find_api_credential("profile-only").await.unwrap().unwrap();
        assert_eq!(found.secret_hash, "hash-of-profile-only");
        assert_eq!(found.credential, created);
        assert!(store.find_api_credential("nobody").await.unwrap().is_none());
        let listed = store.list_api_credentials(org.org_id).await.unwrap();
        assert_eq!(listed.iter().map(|c| c.client_id.as_str()).collect::<Vec<_>>(), ["client-a", "profile-only"]);

        store.insert_access_token("tok", created.id, now() + Duration::hours(8)).await.unwrap();
        let grant = store.find_access_token("tok", now()).await.unwrap().unwrap();
        assert_eq!(grant.org_id, org.org_id);
        assert_eq!(grant.scopes, vec![Scope::Profile]);

        assert!(store.delete_api_credential("profile-only").await.unwrap());
        assert!(!store.delete_api_credential("profile-only").await.unwrap());
        assert!(store.find_access_token("tok", now()).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn access_tokens_expire() {
    for Backend { store, .. } in backends().await {
        new_org(&*store, "a").await;
        let credential = store.find_api_credential("client-a").await.unwrap().unwrap().credential;
        let expires = now() + Duration::seconds(60);
        store.insert_access_token("short", credential.id, expires).await.unwrap();
        assert!(store.find_access_token("short", expires - Duration::seconds(1)).await.unwrap().is_some());
        assert!(store.find_access_token("short", expires).await.unwrap().is_none());
        assert_eq!(store.delete_expired_access_tokens(expires).await.unwrap(), 1);
        assert!(store.find_access_token("short", now()).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_manifest_replaces_the_previous_one_whole_and_in_order() {
    for Backend { store, .. } in backends().await {
        let org = new_org(&*store, "a").await;
        let empty = store.role_manifest(org.org_id).await.unwrap();
        assert_eq!(empty, StoredManifest { roles: vec![], modified_at: None, modified_by: None });

        let first = manifest(&[("b", "B", &["rules:view"]), ("a", "A", &["audiences:*"])]);
        store.replace_role_manifest(org.org_id, &first, "alice", now()).await.unwrap();
        let stored = store.role_manifest(org.org_id).await.unwrap();
        assert_eq!(stored.roles, first.roles);
        assert_eq!(stored.modified_by.as_deref(), Some("alice"));
        assert_eq!(stored.modified_at, Some(now()));

        let second = manifest(&[("a", "A2", &["live_stream:view"])]);
        let later = now() + Duration::minutes(5);
        let answered = store.replace_role_manifest(org.org_id, &second, "bob", later).await.unwrap();
        let stored = store.role_manifest(org.org_id).await.unwrap();
        assert_eq!(stored, answered);
        assert_eq!(stored.roles, second.roles);
        assert_eq!(stored.modified_by.as_deref(), Some("bob"));
        assert!(store.find_custom_role(org.org_id, "b").await.unwrap().is_none());
        assert_eq!(store.find_custom_role(org.org_id, "a").await.unwrap().unwrap().name, "A2");

        let other = new_org(&*store, "b").await;
        assert!(store.role_manifest(other.org_id).await.unwrap().roles.is_empty(), "roles are per organization");
        assert!(matches!(store.role_manifest(OrgId(987_654)).await, Err(StoreError::NotFound)));
    }
}

#[tokio::test]
async fn assigned_custom_roles_cannot_be_deleted_and_nothing_changes() {
    for Backend { store, .. } in backends().await {
        let org = new_org(&*store, "a").await;
        let roles = manifest(&[("m", "Marketer", &["audiences:*"]), ("x", "X", &[])]);
        store.replace_role_manifest(org.org_id, &roles, "alice", now()).await.unwrap();
        let user = store.assign_user_role(org.org_id, "ann@example.com", "m", now()).await.unwrap();
        assert_eq!(user.role_kind, RoleKind::Custom);

        let without_m = manifest(&[("x", "X", &["rules:view"])]);
        let err = store.replace_role_manifest(org.org_id, &without_m, "bob", now()).await.unwrap_err();
        assert!(matches!(&err, StoreError::RoleAssigned(ids) if ids == &["m"]), "{err}");
        assert_eq!(store.role_manifest(org.org_id).await.unwrap().roles, roles.roles, "nothing changed");

        store.remove_user(org.org_id, "ann@example.com").await.unwrap();
        store.replace_role_manifest(org.org_id, &without_m, "bob", now()).await.unwrap();
    }
}

#[tokio::test]
async fn users_get_custom_roles_first_then_standard_roles() {
    for Backend { store, .. } in backends().await {
        let org = new_org(&*store, "a").await;
        let admin = store.assign_user_role(org.org_id, "a@example.com", "admin-role", now()).await.unwrap();
        assert_eq!((admin.role_id.as_str(), admin.role_kind), ("admin-role", RoleKind::Standard));
        let err = store.assign_user_role(org.org_id, "a@example.com", "ghost", now()).await.unwrap_err();
        assert!(matches!(err, StoreError::UnknownRole(_)));

        // A custom copy of a standard template takes precedence over the built-in.
        let copy = manifest(&[("admin-role", "Admin", &["audiences:*"])]);
        store.replace_role_manifest(org.org_id, &copy, "alice", now()).await.unwrap();
        let later = now() + Duration::seconds(30);
        let reassigned = store.assign_user_role(org.org_id, "a@example.com", "admin-role", later).await.unwrap();
        assert_eq!(reassigned.role_kind, RoleKind::Custom);
        assert_eq!(reassigned.created_at, now());
        assert_eq!(reassigned.updated_at, later);

        store.assign_user_role(org.org_id, "b@example.com", "read-only-role", now()).await.unwrap();
        let users = store.list_users(org.org_id).await.unwrap();
        assert_eq!(users.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(), ["a@example.com", "b@example.com"]);

        let other = new_org(&*store, "b").await;
        assert!(store.list_users(other.org_id).await.unwrap().is_empty());
        assert!(!store.remove_user(other.org_id, "a@example.com").await.unwrap(), "tenants are apart");
        assert!(store.remove_user(org.org_id, "a@example.com").await.unwrap());
        assert_eq!(store.list_users(org.org_id).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn concurrent_manifest_replacements_never_interleave() {
    for Backend { store, .. } in backends().await {
        let org = new_org(&*store, "a").await;
        let mut writers = Vec::new();
        for writer in 0..8 {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                let roles: Vec<(String, String)> =
                    (0..20).map(|i| (format!("w{writer}-r{i}"), format!("Writer {writer} role {i}"))).collect();
                let refs: Vec<(&str, &str, &[&str])> =
                    roles.iter().map(|(id, name)| (id.as_str(), name.as_str(), &[][..])).collect();
                store.replace_role_manifest(org.org_id, &manifest(&refs), &format!("writer-{writer}"), now()).await
            }));
        }
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        let stored = store.role_manifest(org.org_id).await.unwrap();
        assert_eq!(stored.roles.len(), 20, "{}", store.backend());
        let author = stored.modified_by.unwrap();
        let prefix = format!("w{}-", author.trim_start_matches("writer-"));
        assert!(stored.roles.iter().all(|r| r.role_id.starts_with(&prefix)), "one writer's manifest, whole");
    }
}

mod profiles {
    use custos_core::identity::{Identity, IdentityType::*, Mpid, RequestKind};
    use custos_core::ids::WorkspaceId;
    use custos_store::*;

    use super::{at, backends, new_org, Backend};

    async fn ask(
        store: &dyn Store,
        ws: WorkspaceId,
        kind: RequestKind,
        identities: &[Identity],
        previous: Option<Mpid>,
        candidate: i64,
    ) -> IdentityOutcome {
        store.identity_request(ws, kind, identities, previous, Mpid(candidate), at(1_000)).await.unwrap()
    }

    fn batch(
        ws: WorkspaceId,
        identities: Vec<Identity>,
        source_request_id: Option<&str>,
        candidate: i64,
    ) -> IncomingBatch {
        IncomingBatch {
            workspace_id: ws,
            input_id: 1,
            source_request_id: source_request_id.map(str::to_owned),
            mpid: None,
            new_mpid: Mpid(candidate),
            identities,
            attributes: vec![("plan".into(), "\"gold\"".into()), ("age".into(), "30".into())],
            deleted_attributes: vec![],
            consent: vec![ConsentRecord {
                regulation: "ccpa".into(),
                purpose: "data_sale_opt_out".into(),
                state_json: r#"{"consented":true}"#.into(),
            }],
            opted_out: None,
            event_count: 3,
            body: BatchBody::compress(r#"{"events":[]}"#),
            received_at_ms: 2_000,
            suppression_keys: Vec::new(),
        }
    }

    #[tokio::test]
    async fn identify_login_logout_and_search_follow_profile_conversion() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let stamp = Identity::new(DeviceApplicationStamp, "das-1");
            let anonymous = ask(&*store, ws, RequestKind::Identify, std::slice::from_ref(&stamp), None, 11).await;
            assert_eq!((anonymous.mpid, anonymous.created, anonymous.logged_in), (Some(Mpid(11)), true, false));

            // A new customer ID converts the anonymous profile: same MPID.
            let login = [Identity::new(CustomerId, "c1"), Identity::new(Email, "a@x.com"), stamp.clone()];
            let known = ask(&*store, ws, RequestKind::Login, &login, Some(Mpid(11)), 12).await;
            assert_eq!((known.mpid, known.created, known.logged_in), (Some(Mpid(11)), false, true));

            // The device alone no longer reaches the known profile; the email does.
            let by_device = ask(&*store, ws, RequestKind::Search, std::slice::from_ref(&stamp), None, 13).await;
            assert_eq!(by_device.mpid, None);
            let by_email = ask(&*store, ws, RequestKind::Search, &[Identity::new(Email, "a@x.com")], None, 14).await;
            assert_eq!(by_email.mpid, Some(Mpid(11)));
            assert_eq!(by_email.matched, vec![Identity::new(Email, "a@x.com")]);

            let logout = ask(&*store, ws, RequestKind::Logout, std::slice::from_ref(&stamp), Some(Mpid(11)), 15).await;
            assert_eq!((logout.mpid, logout.created), (Some(Mpid(15)), true));
            // The stamp moved to the new anonymous profile.
            let profile = store.profile(ws, Mpid(15)).await.unwrap().unwrap();
            assert_eq!(profile.identities.iter().map(|s| s.identity.clone()).collect::<Vec<_>>(), vec![stamp]);

            // Logging back in returns the known profile.
            let again =
                ask(&*store, ws, RequestKind::Login, &[Identity::new(CustomerId, "c1")], Some(Mpid(15)), 16).await;
            assert_eq!(again.mpid, Some(Mpid(11)));
        }
    }

    #[tokio::test]
    async fn a_taken_candidate_mpid_is_never_reused() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let first = ask(&*store, ws, RequestKind::Identify, &[Identity::new(Email, "1@x.com")], None, 77).await;
            let second = ask(&*store, ws, RequestKind::Identify, &[Identity::new(Email, "2@x.com")], None, 77).await;
            assert_eq!(first.mpid, Some(Mpid(77)));
            assert_ne!(second.mpid, Some(Mpid(77)));
            assert!(second.created);
        }
    }

    #[tokio::test]
    async fn modify_adds_changes_removes_and_moves_identities() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            ask(&*store, ws, RequestKind::Identify, &[Identity::new(Email, "a@x.com")], None, 1).await;
            ask(&*store, ws, RequestKind::Identify, &[Identity::new(Other, "o-2")], None, 2).await;
            let changes = [
                IdentityChange { kind: Email, old: Some("a@x.com".into()), new: Some("b@x.com".into()) },
                IdentityChange { kind: Other, old: None, new: Some("o-2".into()) },
                IdentityChange { kind: CustomerId, old: None, new: Some("c1".into()) },
            ];
            store.modify_identities(ws, Mpid(1), &changes, at(5)).await.unwrap();
            let held: Vec<Identity> =
                store.profile(ws, Mpid(1)).await.unwrap().unwrap().identities.into_iter().map(|s| s.identity).collect();
            assert!(
                held.contains(&Identity::new(Email, "b@x.com")) && !held.contains(&Identity::new(Email, "a@x.com"))
            );
            assert!(held.contains(&Identity::new(Other, "o-2")), "moved from profile 2");
            assert!(store.profile(ws, Mpid(2)).await.unwrap().unwrap().identities.is_empty());

            let remove = [IdentityChange { kind: Other, old: Some("o-2".into()), new: None }];
            store.modify_identities(ws, Mpid(1), &remove, at(6)).await.unwrap();
            assert_eq!(store.profile(ws, Mpid(1)).await.unwrap().unwrap().identities.len(), 2);
            assert!(matches!(store.modify_identities(ws, Mpid(999), &remove, at(7)).await, Err(StoreError::NotFound)));
        }
    }

    #[tokio::test]
    async fn batches_land_on_profiles_and_are_stored_once_per_source_request_id() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let ids = vec![Identity::new(CustomerId, "c1"), Identity::new(Email, "a@x.com")];
            let outcomes = store
                .ingest_batches(&[
                    batch(ws, ids.clone(), Some("r1"), 101),
                    batch(ws, ids.clone(), Some("r1"), 102),
                    batch(ws, vec![Identity::new(Email, "a@x.com")], None, 103),
                ])
                .await
                .unwrap();
            assert_eq!(
                outcomes.iter().map(|o| (o.mpid.0, o.duplicate)).collect::<Vec<_>>(),
                [(101, false), (101, true), (101, false)]
            );

            let mut deleting = batch(ws, ids.clone(), Some("r2"), 104);
            deleting.attributes = vec![("tier".into(), "[\"a\",\"b\"]".into())];
            deleting.deleted_attributes = vec!["age".into()];
            deleting.opted_out = Some(true);
            store.ingest_batches(&[deleting]).await.unwrap();

            let profile = store.profile(ws, Mpid(101)).await.unwrap().unwrap();
            assert!(profile.opted_out);
            assert_eq!(
                profile.attributes,
                vec![("plan".to_owned(), "\"gold\"".to_owned()), ("tier".to_owned(), "[\"a\",\"b\"]".to_owned())]
            );
            assert_eq!(profile.consent.len(), 1);
            assert_eq!(profile.identities.len(), 2);

            let stats = store.stats().await.unwrap();
            assert_eq!(stats.totals, Counts { batches: 3, events: 9, profiles: 1 }, "{}", store.backend());
            assert_eq!(
                stats.workspaces,
                vec![WorkspaceCounts { workspace_id: ws, counts: Counts { batches: 3, events: 9, profiles: 1 } }]
            );
        }
    }

    #[tokio::test]
    async fn a_known_profile_gets_what_changed_and_keeps_what_did_not() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let ids = || vec![Identity::new(Email, "known@x.com")];
            let at = |n: u32, ms: i64| {
                let mut b = batch(ws, ids(), Some(&format!("k{n}")), 300 + i64::from(n));
                b.received_at_ms = ms;
                b
            };
            store.ingest_batches(&[at(0, 1_000)]).await.unwrap();
            let created = store.profile(ws, Mpid(300)).await.unwrap().unwrap();
            assert_eq!((created.created_at_ms, created.updated_at_ms), (1_000, 1_000));

            // One group, on the profile now known: a change reverted within the
            // group, a change kept, a deletion, a deletion of nothing, new consent.
            let mut changed = at(1, 2_000);
            changed.attributes = vec![("plan".into(), "\"free\"".into()), ("age".into(), "31".into())];
            let mut reverted = at(2, 2_500);
            reverted.attributes = vec![("plan".into(), "\"gold\"".into())];
            reverted.deleted_attributes = vec!["nothing".into()];
            reverted.consent[0].state_json = r#"{"consented":false}"#.into();
            let mut deleting = at(3, 3_000);
            deleting.attributes = vec![("city".into(), "\"Porto\"".into())];
            deleting.deleted_attributes = vec!["age".into()];
            deleting.consent.clear();
            let outcomes = store.ingest_batches(&[changed, reverted, deleting]).await.unwrap();
            assert!(outcomes.iter().all(|o| o.mpid == Mpid(300) && !o.duplicate));
            let profile = store.profile(ws, Mpid(300)).await.unwrap().unwrap();
            assert_eq!(
                profile.attributes,
                [("city".to_owned(), "\"Porto\"".to_owned()), ("plan".to_owned(), "\"gold\"".to_owned())],
                "{}",
                store.backend()
            );
            assert_eq!(profile.consent[0].state_json, r#"{"consented":false}"#);
            // The last stored time is the latest batch's, the creation stays.
            assert_eq!((profile.created_at_ms, profile.updated_at_ms), (1_000, 3_000));

            // A batch that repeats what the profile holds changes nothing but its time.
            let mut same = at(4, 4_000);
            same.attributes = vec![("plan".into(), "\"gold\"".into()), ("city".into(), "\"Porto\"".into())];
            same.consent[0].state_json = r#"{"consented":false}"#.into();
            store.ingest_batches(&[same]).await.unwrap();
            let again = store.profile(ws, Mpid(300)).await.unwrap().unwrap();
            assert_eq!((again.attributes, again.consent), (profile.attributes, profile.consent));
            assert_eq!(again.updated_at_ms, 4_000);
        }
    }

    #[tokio::test]
    async fn a_group_committed_before_its_flush_is_seen_by_the_next_and_flushes_join() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let email = || vec![Identity::new(Email, "early@x.com")];
            let first = store.commit_batches(&[batch(ws, email(), Some("r1"), 500)]).await.unwrap();
            // Not yet flushed, the first group is what the second resolves against.
            let second = store.commit_batches(&[batch(ws, email(), Some("r2"), 501)]).await.unwrap();
            assert_eq!(second[0].mpid, first[0].mpid, "{}", store.backend());
            let again = store.commit_batches(&[batch(ws, email(), Some("r1"), 502)]).await.unwrap();
            assert!(again[0].duplicate);
            // Flushes asked for together all return once the commits are on disk.
            let flushes = futures_util::future::join_all((0..8).map(|_| store.sync_batches())).await;
            assert!(flushes.iter().all(Result::is_ok), "{flushes:?}");
            let stats = store.stats().await.unwrap();
            assert_eq!((stats.totals.profiles, stats.totals.batches), (1, 2));
        }
    }

    #[tokio::test]
    async fn batches_with_taken_candidate_mpids_get_profiles_of_their_own() {
        let next = |mpid: i64| mpid.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let email = |n: u32| vec![Identity::new(Email, format!("{n}@x.com"))];
            store.ingest_batches(&[batch(ws, email(1), None, 77)]).await.unwrap();
            // The sequence's next MPID is taken too, outside the group's candidates.
            let taken = ask(&*store, ws, RequestKind::Identify, &email(2), None, next(77)).await;
            assert_eq!(taken.mpid, Some(Mpid(next(77))));

            // Two more batches with the same taken candidate, in one group.
            let outcomes =
                store.ingest_batches(&[batch(ws, email(3), None, 77), batch(ws, email(4), None, 77)]).await.unwrap();
            let mpids: Vec<i64> = outcomes.iter().map(|o| o.mpid.0).collect();
            assert_eq!(mpids, [next(next(77)), next(next(next(77)))], "{}", store.backend());
            for (mpid, n) in mpids.into_iter().zip([3, 4]) {
                let profile = store.profile(ws, Mpid(mpid)).await.unwrap().unwrap();
                assert_eq!(profile.identities.iter().map(|s| s.identity.clone()).collect::<Vec<_>>(), email(n));
            }
            assert_eq!(store.stats().await.unwrap().totals.profiles, 4);
        }
    }

    #[tokio::test]
    async fn workspaces_never_share_profiles() {
        for Backend { store, .. } in backends().await {
            let a = new_org(&*store, "a").await.workspace_id;
            let b = new_org(&*store, "b").await.workspace_id;
            let email = [Identity::new(Email, "same@x.com")];
            let in_a = ask(&*store, a, RequestKind::Identify, &email, None, 5).await;
            assert_eq!(ask(&*store, b, RequestKind::Search, &email, None, 6).await.mpid, None);
            let in_b = ask(&*store, b, RequestKind::Identify, &email, None, 5).await;
            assert_eq!((in_a.mpid, in_b.mpid), (Some(Mpid(5)), Some(Mpid(5))), "MPIDs are unique per workspace");
            assert!(store.profile(b, Mpid(5)).await.unwrap().unwrap().identities.len() == 1);
            store.ingest_batches(&[batch(a, email.to_vec(), None, 9)]).await.unwrap();
            assert!(store.profile(b, Mpid(5)).await.unwrap().unwrap().attributes.is_empty());
        }
    }

    #[tokio::test]
    async fn inputs_are_found_by_key_with_their_workspace() {
        for Backend { store, .. } in backends().await {
            let org = new_org(&*store, "a").await;
            let web = store.find_input("web-a").await.unwrap().unwrap();
            assert_eq!((web.kind, web.workspace_id, web.org_id), (InputKind::Web, org.workspace_id, org.org_id));
            assert_eq!(web.secret_sealed.as_deref(), Some("sealed-web-a"));
            assert_eq!(store.find_input("s2s-a").await.unwrap().unwrap().kind, InputKind::Server);
            assert!(store.find_input("nope").await.unwrap().is_none());
            let place = store.find_workspace(org.workspace_id).await.unwrap().unwrap();
            assert_eq!((place.org_id, place.account_id), (org.org_id, org.account_id));
        }
    }
}

mod subject_requests {
    use custos_core::dsr::{Regulation, RequestStatus, RequestType, Schedule, Subject, Trace};
    use custos_core::identity::{Identity, IdentityType::*, Mpid};
    use custos_core::ids::WorkspaceId;
    use custos_store::*;

    use super::{at, backends, lease, new_org, Backend};

    fn hash(trace: Trace<'_>) -> String {
        format!("h({})", trace.canonical().replace('\0', ":"))
    }

    fn request(ws: WorkspaceId, id: &str, kind: RequestType, subject: Subject, suppress: bool) -> NewSubjectRequest {
        let keys: Vec<String> = match &subject {
            Subject::Identities(identities) => identities.iter().map(|i| hash(Trace::Identity(i))).collect(),
            Subject::Mpid(mpid) => vec![hash(Trace::Mpid(*mpid))],
        };
        NewSubjectRequest {
            workspace_id: ws,
            request_id: id.to_owned(),
            regulation: Regulation::Gdpr,
            request_type: kind,
            overlap_key: format!("{}:{}", kind.as_str(), keys.join(",")),
            subject_keys: keys,
            subject,
            group_id: Some("g".into()),
            api_version: "3.0".into(),
            submitted_at_ms: 1,
            received_at_ms: 10,
            schedule: Schedule { process_after_ms: 10, expected_completion_ms: 100 },
            suppress,
            callback_urls: vec!["https://controller.example/cb".into()],
        }
    }

    fn by_email(email: &str) -> Subject {
        Subject::Identities(vec![Identity::new(Email, email)])
    }

    fn batch(ws: WorkspaceId, identities: Vec<Identity>, candidate: i64, keys: Vec<String>) -> IncomingBatch {
        IncomingBatch {
            workspace_id: ws,
            input_id: 1,
            source_request_id: Some(format!("src-{candidate}-{}", keys.len())),
            mpid: None,
            new_mpid: Mpid(candidate),
            identities,
            attributes: vec![("city".into(), "\"Lisbon\"".into())],
            deleted_attributes: vec![],
            consent: vec![ConsentRecord {
                regulation: "gdpr".into(),
                purpose: "marketing".into(),
                state_json: r#"{"consented":true}"#.into(),
            }],
            opted_out: None,
            event_count: 4,
            body: BatchBody::compress(r#"{"events":[{"data":{"custom_attributes":{"secret":"Lisbon"}}}]}"#),
            received_at_ms: 5,
            suppression_keys: keys,
        }
    }

    #[tokio::test]
    async fn requests_are_created_once_and_open_overlaps_are_refused() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let other_ws = new_org(&*store, "b").await.workspace_id;
            let first = request(ws, "r1", RequestType::Erasure, by_email("a@x.com"), false);
            let CreateOutcome::Created(created) = store.create_subject_request(&first).await.unwrap() else { panic!() };
            assert_eq!((created.status, created.attempts), (RequestStatus::Pending, 0));
            assert_eq!(store.create_subject_request(&first).await.unwrap(), CreateOutcome::AlreadyExists);
            let overlapping = request(ws, "r2", RequestType::Erasure, by_email("a@x.com"), false);
            assert_eq!(store.create_subject_request(&overlapping).await.unwrap(), CreateOutcome::Overlaps);
            // Another type, or another workspace, is not an overlap.
            let access = request(ws, "r3", RequestType::Access, by_email("a@x.com"), false);
            assert!(matches!(store.create_subject_request(&access).await.unwrap(), CreateOutcome::Created(_)));
            let elsewhere = request(other_ws, "r1", RequestType::Erasure, by_email("a@x.com"), false);
            assert!(matches!(store.create_subject_request(&elsewhere).await.unwrap(), CreateOutcome::Created(_)));
            assert!(store.subject_request(other_ws, "r3").await.unwrap().is_none(), "tenants are apart");
            let by_id = store.subject_requests_by_id("r1").await.unwrap();
            assert_eq!(by_id.iter().map(|r| r.workspace_id).collect::<Vec<_>>(), [ws, other_ws]);

            assert_eq!(store.subject_requests_in_group(ws, "g").await.unwrap().len(), 2);
            let audit = store.subject_request_audit(ws, "r1").await.unwrap();
            assert_eq!(audit[0].step, "received");
            assert!(!audit[0].detail.contains("a@x.com"));
            let callbacks = store.claim_callbacks(at(10), lease(1000), 10).await.unwrap();
            assert_eq!(callbacks.len(), 3, "{}: one per request created", store.backend());
            assert!(callbacks.iter().all(|c| c.status == RequestStatus::Pending));

            // A cancelled request frees its identities for a new request.
            assert!(matches!(
                store.cancel_subject_request(ws, "r1", at(20)).await.unwrap(),
                CancelOutcome::Cancelled(_)
            ));
            assert!(matches!(store.create_subject_request(&overlapping).await.unwrap(), CreateOutcome::Created(_)));
        }
    }

    /// Nodes racing to store requests of one id, or requests for one subject:
    /// one is stored, and each of the others is told why it was refused.
    #[tokio::test]
    async fn concurrent_creations_store_one_request_and_refuse_the_others_for_their_reason() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let same_id =
                (0..8).map(|n| request(ws, "r1", RequestType::Erasure, by_email(&format!("{n}@x.com")), false));
            let same_subject =
                (0..8).map(|n| request(ws, &format!("o{n}"), RequestType::Access, by_email("b@x.com"), false));
            for (racing, refused) in [
                (same_id.collect::<Vec<_>>(), CreateOutcome::AlreadyExists),
                (same_subject.collect(), CreateOutcome::Overlaps),
            ] {
                let creations: Vec<_> = racing
                    .into_iter()
                    .map(|new| {
                        let store = store.clone();
                        tokio::spawn(async move { store.create_subject_request(&new).await.unwrap() })
                    })
                    .collect();
                let mut outcomes = Vec::new();
                for creation in creations {
                    outcomes.push(creation.await.unwrap());
                }
                let created = outcomes.iter().filter(|o| matches!(o, CreateOutcome::Created(_))).count();
                assert_eq!(created, 1, "{}", store.backend());
                assert!(
                    outcomes.iter().all(|o| matches!(o, CreateOutcome::Created(_)) || *o == refused),
                    "{outcomes:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_request_is_held_by_one_worker_and_resumed_after_its_lease_expires() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let mut new = request(ws, "r1", RequestType::Access, by_email("a@x.com"), false);
            new.schedule.process_after_ms = 50;
            new.received_at_ms = 50;
            store.create_subject_request(&new).await.unwrap();
            assert!(store.claim_subject_request("a", at(40), lease(100)).await.unwrap().is_none(), "not due yet");
            let held = store.claim_subject_request("a", at(60), lease(100)).await.unwrap().unwrap();
            assert_eq!(held.request.status, RequestStatus::InProgress);
            assert_eq!(held.subject, Some(by_email("a@x.com")));
            assert!(store.claim_subject_request("b", at(100), lease(100)).await.unwrap().is_none(), "leased to a");
            assert!(matches!(
                store.cancel_subject_request(ws, "r1", at(100)).await.unwrap(),
                CancelOutcome::TooLate(_)
            ));

            // Worker a dies; after its lease, b resumes the request.
            let resumed = store.claim_subject_request("b", at(170), lease(100)).await.unwrap().unwrap();
            assert_eq!(resumed.request.attempts, 2);
            assert!(!store.complete_subject_request(ws, "r1", "a", 0, None, at(180)).await.unwrap(), "a lost it");
            assert!(store.complete_subject_request(ws, "r1", "b", 0, None, at(180)).await.unwrap());
            let done = store.subject_request(ws, "r1").await.unwrap().unwrap();
            assert_eq!((done.status, done.completed_at_ms), (RequestStatus::Completed, Some(180)));
            let steps: Vec<String> =
                store.subject_request_audit(ws, "r1").await.unwrap().into_iter().map(|e| e.step).collect();
            assert_eq!(steps, ["received", "processing", "resumed", "completed"], "{}", store.backend());
            assert!(store.claim_subject_request("c", at(10_000), lease(100)).await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn failures_are_retried_then_end_the_request_with_their_reason() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            store
                .create_subject_request(&request(ws, "r1", RequestType::Erasure, by_email("a@x.com"), false))
                .await
                .unwrap();
            store.claim_subject_request("w", at(10), lease(100)).await.unwrap().unwrap();
            assert!(store.retry_subject_request(ws, "r1", "w", "disk full", at(500), at(20)).await.unwrap());
            assert!(
                store.claim_subject_request("w", at(30), lease(100)).await.unwrap().is_none(),
                "waits for its retry"
            );
            let again = store.claim_subject_request("w", at(500), lease(100)).await.unwrap().unwrap();
            assert_eq!(again.request.last_error.as_deref(), Some("disk full"));
            assert!(store.fail_subject_request(ws, "r1", "w", "gave up", at(600)).await.unwrap());
            let failed = store.subject_request(ws, "r1").await.unwrap().unwrap();
            assert_eq!((failed.status, failed.failure_reason.as_deref()), (RequestStatus::Failed, Some("gave up")));
            let listed = store.list_subject_requests(None, Some(RequestStatus::Failed), 10).await.unwrap();
            assert_eq!(listed.len(), 1);
        }
    }

    #[tokio::test]
    async fn erasure_removes_the_whole_record_its_exports_and_suppresses_the_subject() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let subject = [
                Identity::new(CustomerId, "cust-7"),
                Identity::new(Email, "erase@x.com"),
                Identity::new(IosIdfa, "idfa-7"),
            ];
            let bystander = [Identity::new(Email, "keep@x.com")];
            for n in 0..3 {
                store.ingest_batches(&[batch(ws, subject.to_vec(), 70 + n, vec![])]).await.unwrap();
            }
            store.ingest_batches(&[batch(ws, bystander.to_vec(), 80, vec![])]).await.unwrap();
            let mpid = store.ingest_batches(&[batch(ws, subject.to_vec(), 99, vec![])]).await.unwrap()[0].mpid;

            // An earlier access request exported the subject.
            store
                .create_subject_request(&request(ws, "access", RequestType::Access, by_email("erase@x.com"), false))
                .await
                .unwrap();
            store.claim_subject_request("w", at(10), lease(1000)).await.unwrap().unwrap();
            assert_eq!(store.begin_export(ws, "access", "w", at(10)).await.unwrap(), vec![mpid]);
            let page = store.batch_page(ws, mpid, 0, 2).await.unwrap();
            assert_eq!(page.len(), 2);
            // Stored compressed, read back as received.
            assert_eq!(page[0].body, r#"{"events":[{"data":{"custom_attributes":{"secret":"Lisbon"}}}]}"#);
            store.put_export_chunk(ws, "access", 0, b"zip bytes").await.unwrap();
            let export = ExportDone { export_bytes: 9, expires_at_ms: 1_000_000 };
            store.complete_subject_request(ws, "access", "w", 1, Some(export), at(20)).await.unwrap();

            // The email alone reaches the profile that also has a customer ID.
            store
                .create_subject_request(&request(ws, "erase", RequestType::Erasure, by_email("erase@x.com"), true))
                .await
                .unwrap();
            store.claim_subject_request("w", at(30), lease(1000)).await.unwrap().unwrap();
            let report = store.erase_subject(ws, "erase", "w", &hash, at(40)).await.unwrap();
            assert_eq!(
                (report.profiles, report.identities, report.batches, report.events, report.export_chunks),
                (1, 3, 4, 16, 1),
                "{}",
                store.backend()
            );
            assert_eq!((report.attributes, report.consent), (1, 1));
            store.purge_deleted_data().await.unwrap();
            assert!(store.complete_subject_request(ws, "erase", "w", 1, None, at(50)).await.unwrap());

            assert!(store.profile(ws, mpid).await.unwrap().is_none());
            assert!(store.batch_page(ws, mpid, 0, 10).await.unwrap().is_empty());
            assert!(store.export_chunk(ws, "access", 0).await.unwrap().is_none());
            let earlier = store.subject_request(ws, "access").await.unwrap().unwrap();
            assert!(earlier.export_expires_ms.unwrap() <= 40, "the earlier export now reads as gone");
            let stats = store.stats().await.unwrap();
            assert_eq!((stats.totals.profiles, stats.totals.batches), (1, 1), "the bystander stays");

            // Later data naming any erased identity, or the MPID, is dropped.
            for trace in [Trace::Identity(&subject[0]), Trace::Identity(&subject[2]), Trace::Mpid(mpid)] {
                assert!(store.suppressed(ws, &[hash(trace)]).await.unwrap());
            }
            let later = batch(ws, vec![subject[0].clone()], 123, vec![hash(Trace::Identity(&subject[0]))]);
            assert!(store.ingest_batches(&[later]).await.unwrap()[0].suppressed);
            assert_eq!(store.stats().await.unwrap().totals.profiles, 1);
            assert!(!store.suppressed(ws, &[hash(Trace::Identity(&bystander[0]))]).await.unwrap());
            let steps: Vec<String> =
                store.subject_request_audit(ws, "erase").await.unwrap().into_iter().map(|e| e.step).collect();
            assert_eq!(steps, ["received", "processing", "identities_resolved", "erased", "completed"]);
        }
    }

    #[tokio::test]
    async fn a_device_identity_alone_does_not_reach_a_profile_with_a_login_id() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            let held = [Identity::new(CustomerId, "c"), Identity::new(IosIdfa, "idfa")];
            store.ingest_batches(&[batch(ws, held.to_vec(), 5, vec![])]).await.unwrap();
            let subject = Subject::Identities(vec![Identity::new(IosIdfa, "idfa")]);
            store.create_subject_request(&request(ws, "r", RequestType::Erasure, subject, false)).await.unwrap();
            store.claim_subject_request("w", at(10), lease(100)).await.unwrap().unwrap();
            assert_eq!(store.erase_subject(ws, "r", "w", &hash, at(20)).await.unwrap().profiles, 0);
            assert!(store.profile(ws, Mpid(5)).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn callbacks_are_retried_until_delivered() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            store
                .create_subject_request(&request(ws, "r", RequestType::Access, by_email("a@x.com"), false))
                .await
                .unwrap();
            let first = store.claim_callbacks(at(10), lease(100), 10).await.unwrap();
            assert_eq!(first.len(), 1);
            assert!(store.claim_callbacks(at(20), lease(100), 10).await.unwrap().is_empty(), "leased");
            let retry = CallbackResult::Retry { next_attempt_ms: 300, error: "HTTP 503".into() };
            store.finish_callback(&first[0], &retry, at(30)).await.unwrap();
            assert!(store.claim_callbacks(at(200), lease(100), 10).await.unwrap().is_empty());
            let second = store.claim_callbacks(at(300), lease(100), 10).await.unwrap();
            assert_eq!(second[0].attempts, 2);
            store.finish_callback(&second[0], &CallbackResult::Delivered { http_status: 202 }, at(310)).await.unwrap();
            assert!(store.claim_callbacks(at(100_000), lease(100), 10).await.unwrap().is_empty());
            let steps: Vec<String> =
                store.subject_request_audit(ws, "r").await.unwrap().into_iter().map(|e| e.step).collect();
            assert_eq!(steps, ["received", "callback_attempted", "callback_answered"]);
        }
    }

    #[tokio::test]
    async fn the_processor_identity_is_saved_once() {
        for Backend { store, .. } in backends().await {
            assert!(store.processor_identity().await.unwrap().is_none());
            let kept = store.save_processor_identity("k1", "c1", at(1)).await.unwrap();
            assert_eq!(kept, ProcessorIdentity { key_sealed: "k1".to_owned(), certificate_pem: "c1".to_owned() });
            assert_eq!(store.save_processor_identity("k2", "c2", at(2)).await.unwrap(), kept, "the first node's wins");
        }
    }
}

mod subject_request_queue {
    use custos_core::dsr::{Regulation, RequestType, Schedule, Subject};
    use custos_core::identity::{Identity, IdentityType};
    use custos_store::*;

    use super::{at, backends, lease, new_org, Backend};

    /// Workers of several nodes (tasks here, on one store) never hold the same request.
    #[tokio::test]
    async fn concurrent_workers_each_request_is_claimed_once() {
        for Backend { store, .. } in backends().await {
            let ws = new_org(&*store, "a").await.workspace_id;
            for n in 0..24 {
                let id = format!("req-{n}");
                let new = NewSubjectRequest {
                    workspace_id: ws,
                    request_id: id.clone(),
                    regulation: Regulation::Ccpa,
                    request_type: RequestType::Access,
                    subject: Subject::Identities(vec![Identity::new(IdentityType::Email, format!("{n}@x.com"))]),
                    subject_keys: vec![],
                    overlap_key: id,
                    group_id: None,
                    api_version: "3.0".into(),
                    submitted_at_ms: 0,
                    received_at_ms: 0,
                    schedule: Schedule { process_after_ms: 0, expected_completion_ms: 0 },
                    suppress: false,
                    callback_urls: vec![],
                };
                store.create_subject_request(&new).await.unwrap();
            }
            let workers: Vec<_> = (0..4)
                .map(|w| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let mut claimed = Vec::new();
                        while let Some(job) =
                            store.claim_subject_request(&format!("w{w}"), at(10), lease(60_000)).await.unwrap()
                        {
                            claimed.push(job.request.request_id);
                        }
                        claimed
                    })
                })
                .collect();
            let mut all = Vec::new();
            for worker in workers {
                all.extend(worker.await.unwrap());
            }
            all.sort();
            let before = all.len();
            all.dedup();
            assert_eq!((before, all.len()), (24, 24), "{}: each request claimed exactly once", store.backend());
        }
    }
}
