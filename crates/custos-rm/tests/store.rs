//! The storage conformance suite: every test runs against SQLite and, when
//! `CUSTOS_TEST_DATABASE_URL` is set, against PostgreSQL (in a fresh schema).

use std::sync::Arc;
use std::time::Duration;

use custos_rm::domain::extension::Extension;
use custos_rm::domain::job::{JobState, JobStatus, Step};
use custos_rm::domain::request::{Regulation, RequestKind, RequestStatus};
use custos_rm::domain::role::Role;
use custos_rm::store::*;
use custos_store::testing;
use time::OffsetDateTime;

struct Backend {
    store: Arc<dyn RmStore>,
    _source: testing::TestSource,
}

async fn backends() -> Vec<Backend> {
    let mut backends = Vec::new();
    for source in testing::test_sources().await {
        backends.push(Backend { store: open(&source.source).await.unwrap(), _source: source });
    }
    backends
}

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap()
}

fn new_connection(name: &str) -> NewConnection {
    NewConnection {
        name: name.into(),
        pod: None,
        base_url: Some(format!("http://{name}.test")),
        workspace_key: format!("{name}-wk"),
        workspace_secret_sealed: format!("sealed-{name}-ws"),
        web_key: format!("{name}-bk"),
        web_secret_sealed: format!("sealed-{name}-bs"),
        created_at: at(0),
        certificate_sha256: Some(format!("{name}-fingerprint")),
    }
}

fn new_request(id: &str, kind: RequestKind, created: i64) -> NewRequest {
    NewRequest {
        id: id.into(),
        kind,
        regulation: Regulation::Gdpr,
        subject_sealed: "sealed-subject".into(),
        subject_kinds: vec!["email".into()],
        received_at: at(created),
        deadline: at(created + 30 * 86_400),
        created_at: at(created),
        status: RequestStatus::Processing,
        verify: false,
        needs_approval: false,
        timer_at: None,
    }
}

/// Stores a request with no link, mail or audit line beyond its receipt.
async fn create(store: &dyn RmStore, new: NewRequest, jobs: Vec<NewJob>) -> RequestRecord {
    store.create_request(new, jobs, None, Vec::new(), None, Vec::new()).await.unwrap()
}

fn job(connection: &Connection, id: &str) -> NewJob {
    NewJob { connection_id: connection.id, processor_request_id: id.into() }
}

fn state(step: Step, status: JobStatus) -> JobState {
    JobState { step, status, attempts: 0 }
}

async fn request_status(store: &dyn RmStore, id: &str) -> RequestStatus {
    store.request_detail(id).await.unwrap().unwrap().request.status
}

#[tokio::test]
async fn tokens_and_settings_are_kept() {
    for Backend { store, .. } in backends().await {
        assert!(store.api_token_digests().await.unwrap().is_empty());
        store.add_api_token("digest-1", "init", Role::SuperAdmin, at(0)).await.unwrap();
        store.add_api_token("digest-2", "ci", Role::Viewer, at(1)).await.unwrap();
        assert_eq!(store.api_token_digests().await.unwrap(), ["digest-1", "digest-2"]);
        assert_eq!(
            store.api_token("digest-2").await.unwrap(),
            Some(ApiToken { name: "ci".into(), role: Role::Viewer })
        );
        assert_eq!(store.api_token("digest-3").await.unwrap(), None);
        assert_eq!(store.setting("key_check").await.unwrap(), None);
        assert_eq!(store.setting_or_insert("key_check", "a").await.unwrap(), "a");
        assert_eq!(store.setting_or_insert("key_check", "b").await.unwrap(), "a", "the first value stays");
        assert_eq!(store.setting("key_check").await.unwrap().as_deref(), Some("a"));
    }
}

#[tokio::test]
async fn connection_names_are_unique_among_connections_not_removed() {
    for Backend { store, .. } in backends().await {
        let first = store.insert_connection(new_connection("eu")).await.unwrap();
        assert_eq!(first.base_url.as_deref(), Some("http://eu.test"));
        assert!(matches!(store.insert_connection(new_connection("eu")).await, Err(StoreError::Conflict(_))));
        let us = store
            .insert_connection(NewConnection { pod: Some("US1".into()), base_url: None, ..new_connection("us") })
            .await
            .unwrap();
        let names: Vec<String> = store.list_connections().await.unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["eu", "us"]);
        assert!(store.remove_connection(first.id, at(5)).await.unwrap());
        assert!(!store.remove_connection(first.id, at(6)).await.unwrap());
        assert_eq!(store.list_connections().await.unwrap(), [us]);
        // The name is free again.
        let again = store.insert_connection(new_connection("eu")).await.unwrap();
        // A check is recorded, and pins a certificate when it gives one.
        let stored = store.stored_connection(again.id).await.unwrap().unwrap();
        assert_eq!(stored.connection.certificate_sha256.as_deref(), Some("eu-fingerprint"));
        assert_eq!(stored.workspace_secret_sealed, "sealed-eu-ws");
        let checked = store.record_check(again.id, Some("rotated"), at(9)).await.unwrap().unwrap();
        assert_eq!((checked.certificate_sha256.as_deref(), checked.checked_at), (Some("rotated"), Some(at(9))));
        let unpinned = store.record_check(again.id, None, at(10)).await.unwrap().unwrap();
        assert_eq!(
            unpinned.certificate_sha256.as_deref(),
            Some("rotated"),
            "a check without a certificate keeps the pin"
        );
        assert!(store.record_check(first.id, None, at(11)).await.unwrap().is_none(), "removed");
        assert!(store.stored_connection(first.id).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_request_fans_out_to_its_connections_with_fixed_processor_ids() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        let b = store.insert_connection(new_connection("b")).await.unwrap();
        let record =
            create(&*store, new_request("r1", RequestKind::Deletion, 10), vec![job(&a, "p-a"), job(&b, "p-b")]).await;
        assert_eq!(record.status, RequestStatus::Processing);
        assert_eq!(record.subject_kinds, ["email"]);
        assert_eq!(record.deadline, at(10 + 30 * 86_400));
        let detail = store.request_detail("r1").await.unwrap().unwrap();
        let jobs: Vec<(&str, &str, JobState)> = detail
            .jobs
            .iter()
            .map(|j| (j.connection_name.as_str(), j.processor_request_id.as_str(), j.state))
            .collect();
        assert_eq!(jobs, [("a", "p-a", JobState::NEW), ("b", "p-b", JobState::NEW)]);
        assert!(detail.jobs.iter().all(|j| j.next_attempt_at == Some(at(10))));
        assert_eq!(detail.audit.len(), 1);
        assert!(detail.audit[0].event.starts_with("received: deletion request under GDPR"), "{:?}", detail.audit);
        assert!(store.request_detail("nope").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn due_jobs_are_claimed_once_until_released_or_recorded() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        create(&*store, new_request("r1", RequestKind::Access, 0), vec![job(&a, "p-1")]).await;
        create(&*store, new_request("r2", RequestKind::Access, 5), vec![job(&a, "p-2")]).await;
        assert!(store.claim_due_jobs(at(-1), at(100), 10).await.unwrap().is_empty(), "nothing is due yet");
        let first = store.claim_due_jobs(at(6), at(100), 1).await.unwrap();
        assert_eq!(first.len(), 1);
        let item = store.work_item(first[0]).await.unwrap().unwrap();
        assert_eq!(item.job.processor_request_id, "p-1", "the earliest due first");
        assert_eq!(item.connection.workspace_secret_sealed, "sealed-a-ws");
        assert_eq!(item.subject_sealed, "sealed-subject");
        let second = store.claim_due_jobs(at(6), at(100), 10).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_ne!(second, first);
        assert!(store.claim_due_jobs(at(7), at(100), 10).await.unwrap().is_empty(), "both are claimed");
        // A lease that ran out, or a restart, makes them claimable again.
        assert_eq!(store.claim_due_jobs(at(101), at(200), 10).await.unwrap().len(), 2);
        assert_eq!(store.release_claims().await.unwrap(), 2);
        assert_eq!(store.claim_due_jobs(at(102), at(200), 10).await.unwrap().len(), 2);
        let by_processor_id = store.work_item_by_processor_request("p-2").await.unwrap().unwrap();
        assert_eq!(by_processor_id.job.request_id, "r2");
    }
}

#[tokio::test]
async fn recorded_steps_move_the_request_and_keep_an_audit_trail() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        let b = store.insert_connection(new_connection("b")).await.unwrap();
        create(&*store, new_request("r1", RequestKind::Access, 0), vec![job(&a, "p-a"), job(&b, "p-b")]).await;
        let ids = store.claim_due_jobs(at(1), at(100), 10).await.unwrap();
        let (job_a, job_b) = (ids[0], ids[1]);

        let submitted = JobUpdate {
            mpids_sealed: Some("sealed-mpids".into()),
            ..JobUpdate::new(state(Step::Waiting, JobStatus::InProgress), Some(at(600)), "submitted")
        };
        assert!(store.record_step(job_a, submitted, at(2)).await.unwrap());
        assert_eq!(request_status(&*store, "r1").await, RequestStatus::Processing);
        let item = store.work_item(job_a).await.unwrap().unwrap();
        assert_eq!(item.mpids_sealed.as_deref(), Some("sealed-mpids"));
        let no_data = JobUpdate::new(state(Step::Done, JobStatus::NoData), None, "lookup: no profile");
        assert!(store.record_step(job_b, no_data, at(3)).await.unwrap());
        assert_eq!(request_status(&*store, "r1").await, RequestStatus::Processing);

        let downloaded = JobUpdate {
            results_sealed: Some(vec![1, 2, 3]),
            processor_status: Some("completed".into()),
            results_url: Some("http://a.test/v3/requests/p-a/results".into()),
            ..JobUpdate::new(state(Step::Done, JobStatus::Completed), None, "results downloaded")
        };
        assert!(store.record_step(job_a, downloaded, at(4)).await.unwrap());
        // An access request whose subject gave an email waits for its delivery, due at once.
        let detail = store.request_detail("r1").await.unwrap().unwrap();
        assert_eq!(detail.request.status, RequestStatus::AwaitingDelivery);
        assert_eq!((detail.request.finished_at, detail.request.timer_at), (Some(at(4)), Some(at(4))));
        assert!(detail.jobs[0].has_results && !detail.jobs[1].has_results);
        assert_eq!(detail.jobs[0].processor_status.as_deref(), Some("completed"));
        assert_eq!(detail.jobs[0].next_attempt_at, None);
        let events: Vec<(Option<&str>, &str)> =
            detail.audit.iter().skip(1).map(|e| (e.connection_name.as_deref(), e.event.as_str())).collect();
        assert_eq!(
            events,
            [
                (Some("a"), "submitted"),
                (Some("b"), "lookup: no profile"),
                (Some("a"), "results downloaded"),
                (None, "awaiting_delivery: every connection has finished")
            ]
        );
        assert_eq!(
            store.job_results("r1").await.unwrap(),
            [JobResults { connection_name: "a".to_owned(), results_sealed: vec![1, 2, 3] }]
        );
        let item = store.work_item(job_a).await.unwrap().unwrap();
        assert_eq!(item.mpids_sealed, None, "a finished job forgets the profiles it found");
        assert_eq!(item.results_url.as_deref(), Some("http://a.test/v3/requests/p-a/results"));

        // A finished job takes no further step.
        let late = JobUpdate::new(state(Step::Waiting, JobStatus::InProgress), Some(at(9)), "late");
        assert!(!store.record_step(job_a, late, at(5)).await.unwrap());
        assert_eq!(request_status(&*store, "r1").await, RequestStatus::AwaitingDelivery);
        assert_eq!(store.request_detail("r1").await.unwrap().unwrap().audit.len(), 5);
    }
}

#[tokio::test]
async fn a_callback_applies_to_an_unclaimed_job_and_wakes_a_claimed_one() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        create(&*store, new_request("r1", RequestKind::Deletion, 0), vec![job(&a, "p-a")]).await;
        let id = store.claim_due_jobs(at(1), at(100), 10).await.unwrap()[0];
        let waiting = state(Step::Waiting, JobStatus::InProgress);
        store.record_step(id, JobUpdate::new(waiting, Some(at(1000)), "submitted"), at(2)).await.unwrap();

        // Unclaimed and in the expected state: applied.
        let in_progress = JobUpdate {
            processor_status: Some("in_progress".into()),
            ..JobUpdate::new(waiting, Some(at(2000)), "callback: in_progress")
        };
        assert!(store.apply_unclaimed(id, waiting, in_progress, at(3)).await.unwrap());
        let job = store.work_item(id).await.unwrap().unwrap().job;
        assert_eq!((job.processor_status.as_deref(), job.next_attempt_at), (Some("in_progress"), Some(at(2000))));

        // Claimed by the worker: not applied, but the job is woken, so that
        // the worker's own record makes it due at once.
        assert_eq!(store.claim_due_jobs(at(2001), at(3000), 10).await.unwrap(), [id]);
        let done = JobUpdate::new(state(Step::Done, JobStatus::Completed), None, "callback: completed");
        assert!(!store.apply_unclaimed(id, waiting, done.clone(), at(2002)).await.unwrap());
        assert_eq!(store.work_item(id).await.unwrap().unwrap().job.state, waiting);
        let polled = JobUpdate::new(waiting, Some(at(9000)), "processor status: in_progress");
        store.record_step(id, polled, at(2003)).await.unwrap();
        assert_eq!(store.work_item(id).await.unwrap().unwrap().job.next_attempt_at, Some(at(2003)));

        // In another state than expected: not applied either.
        let submit = state(Step::Submit, JobStatus::InProgress);
        assert!(!store.apply_unclaimed(id, submit, done.clone(), at(2004)).await.unwrap());
        assert!(store.apply_unclaimed(id, waiting, done, at(2005)).await.unwrap());
        let detail = store.request_detail("r1").await.unwrap().unwrap();
        assert_eq!(detail.request.status, RequestStatus::Completed);
        assert!(detail.audit.iter().any(|e| e.event.contains("not applied while the worker holds the job")));
    }
}

#[tokio::test]
async fn removing_a_connection_cancels_its_unfinished_jobs_only() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        let b = store.insert_connection(new_connection("b")).await.unwrap();
        create(&*store, new_request("r1", RequestKind::Deletion, 0), vec![job(&a, "p-a1"), job(&b, "p-b1")]).await;
        create(&*store, new_request("r2", RequestKind::Deletion, 1), vec![job(&a, "p-a2")]).await;
        let r2_job = store.work_item_by_processor_request("p-a2").await.unwrap().unwrap().job.id;
        store
            .record_step(r2_job, JobUpdate::new(state(Step::Done, JobStatus::Completed), None, "done"), at(2))
            .await
            .unwrap();

        assert!(store.remove_connection(a.id, at(3)).await.unwrap());
        let r1 = store.request_detail("r1").await.unwrap().unwrap();
        assert_eq!(r1.jobs[0].state.status, JobStatus::Cancelled);
        assert_eq!(r1.jobs[1].state, JobState::NEW);
        assert!(r1.audit.iter().any(|e| e.event == "cancelled: the connection was removed"));
        assert_eq!(request_status(&*store, "r2").await, RequestStatus::Completed, "finished work stays as it was");
        let item = store.work_item_by_processor_request("p-a1").await.unwrap().unwrap();
        assert!(item.connection.removed);
        // New requests no longer reach it.
        create(&*store, new_request("r3", RequestKind::Access, 4), vec![job(&a, "p-a3"), job(&b, "p-b3")]).await;
        let r3 = store.request_detail("r3").await.unwrap().unwrap();
        assert_eq!(r3.jobs.iter().map(|j| j.connection_name.as_str()).collect::<Vec<_>>(), ["b"]);
        // b's job finishing fails r1 overall, as a's share was never done.
        let b1 = store.work_item_by_processor_request("p-b1").await.unwrap().unwrap().job.id;
        store
            .record_step(b1, JobUpdate::new(state(Step::Done, JobStatus::Completed), None, "done"), at(5))
            .await
            .unwrap();
        assert_eq!(request_status(&*store, "r1").await, RequestStatus::Failed);
    }
}

#[tokio::test]
async fn requests_are_listed_newest_first_by_status_and_deadline() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        for (n, id) in ["r1", "r2", "r3"].into_iter().enumerate() {
            let n = n as i64;
            create(&*store, new_request(id, RequestKind::Deletion, n), vec![job(&a, &format!("p-{id}"))]).await;
        }
        let done = store.work_item_by_processor_request("p-r2").await.unwrap().unwrap().job.id;
        store
            .record_step(done, JobUpdate::new(state(Step::Done, JobStatus::Completed), None, "done"), at(10))
            .await
            .unwrap();
        let ids = |records: Vec<RequestRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let page = |status, overdue| RequestFilter { status, overdue, limit: 10, ..RequestFilter::default() };
        assert_eq!(ids(store.list_requests(&page(None, None), at(20)).await.unwrap()), ["r3", "r2", "r1"]);
        assert_eq!(
            ids(store.list_requests(&page(Some(RequestStatus::Completed), None), at(20)).await.unwrap()),
            ["r2"]
        );
        assert_eq!(
            ids(store.list_requests(&page(Some(RequestStatus::Processing), None), at(20)).await.unwrap()),
            ["r3", "r1"]
        );
        // Past the deadlines, the open ones are overdue; r2 finished in time.
        let late = at(40 * 86_400);
        assert_eq!(ids(store.list_requests(&page(None, Some(true)), late).await.unwrap()), ["r3", "r1"]);
        assert_eq!(ids(store.list_requests(&page(None, Some(false)), late).await.unwrap()), ["r2"]);
        let counts = store.request_counts().await.unwrap();
        assert_eq!(
            counts,
            [
                RequestCount { status: RequestStatus::Completed, count: 1 },
                RequestCount { status: RequestStatus::Processing, count: 2 }
            ]
        );
        let second = RequestFilter { limit: 1, offset: 1, ..page(None, None) };
        assert_eq!(ids(store.list_requests(&second, at(20)).await.unwrap()), ["r2"]);
    }
}

#[tokio::test]
async fn concurrent_steps_of_one_request_leave_its_status_right() {
    for Backend { store, .. } in backends().await {
        let mut connections = Vec::new();
        for n in 0..8 {
            connections.push(store.insert_connection(new_connection(&format!("c{n}"))).await.unwrap());
        }
        let jobs = connections.iter().enumerate().map(|(n, c)| job(c, &format!("p-{n}"))).collect();
        create(&*store, new_request("r1", RequestKind::Deletion, 0), jobs).await;
        let ids = store.claim_due_jobs(at(1), at(100), 10).await.unwrap();
        let mut tasks = Vec::new();
        for id in ids {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let update = JobUpdate::new(state(Step::Done, JobStatus::Completed), None, "done");
                store.record_step(id, update, at(2)).await.unwrap()
            }));
        }
        for task in tasks {
            assert!(task.await.unwrap());
        }
        assert_eq!(request_status(&*store, "r1").await, RequestStatus::Completed);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn console_accounts_conform() {
    for Backend { store, .. } in backends().await {
        custos_kit::testing::accounts::run_all(&RmAccounts(store.clone())).await;
    }
}

#[tokio::test]
async fn users_have_a_role_and_the_last_super_admin_stays() {
    for Backend { store, .. } in backends().await {
        let ann = store.put_user("ann@example.com", Role::SuperAdmin, None, at(0)).await.unwrap();
        assert_eq!((ann.role, ann.notify, ann.created_at), (Role::SuperAdmin, false, at(0)));
        store.put_user("bob@example.com", Role::Viewer, Some(true), at(1)).await.unwrap();
        let bob = store.update_user("bob@example.com", Some(Role::RequestManager), None).await.unwrap().unwrap();
        assert_eq!((bob.role, bob.notify), (Role::RequestManager, true), "what is not given stays");
        assert_eq!(store.update_user("nobody@example.com", None, Some(true)).await.unwrap(), None);
        let emails: Vec<String> = store.list_users().await.unwrap().into_iter().map(|u| u.email).collect();
        assert_eq!(emails, ["ann@example.com", "bob@example.com"]);
        assert_eq!(store.notice_recipients().await.unwrap(), ["bob@example.com"]);

        // The last Super Admin can be neither demoted nor removed.
        let demote = store.update_user("ann@example.com", Some(Role::Viewer), None).await;
        assert!(matches!(demote, Err(StoreError::Conflict(_))), "{demote:?}");
        assert!(matches!(store.remove_user("ann@example.com").await, Err(StoreError::Conflict(_))));
        assert!(matches!(
            store.put_user("ann@example.com", Role::Viewer, None, at(2)).await,
            Err(StoreError::Conflict(_))
        ));
        store.update_user("bob@example.com", Some(Role::SuperAdmin), None).await.unwrap();
        store.update_user("ann@example.com", Some(Role::Viewer), None).await.unwrap();

        // Removing a user removes their sign-in.
        store.ensure_login("ann@example.com", at(3)).await.unwrap();
        assert!(store.remove_user("ann@example.com").await.unwrap());
        assert!(!store.remove_user("ann@example.com").await.unwrap());
        assert_eq!(store.login("ann@example.com").await.unwrap(), None);
        assert_eq!(store.user("ann@example.com").await.unwrap(), None);
    }
}

fn link(digest: &str, purpose: SubjectLinkPurpose, expires: i64, max_uses: i64) -> NewSubjectLink {
    NewSubjectLink { digest: digest.into(), purpose, expires_at: at(expires), max_uses }
}

fn mail(kind: &str) -> NewMail {
    NewMail {
        kind: kind.into(),
        recipient_sealed: "sealed-to".into(),
        subject: format!("{kind} subject"),
        body_sealed: "sealed-body".into(),
    }
}

#[tokio::test]
async fn a_verifying_request_waits_with_its_link_and_mail_then_its_jobs_start() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        let new = NewRequest {
            status: RequestStatus::Verifying,
            verify: true,
            needs_approval: true,
            timer_at: Some(at(100)),
            ..new_request("r1", RequestKind::Access, 0)
        };
        let verify = link("v1", SubjectLinkPurpose::Verify, 100, 1);
        let lines = vec!["verifying: a link was emailed".to_owned()];
        let record = store
            .create_request(
                new,
                vec![job(&a, "p-a")],
                Some(verify),
                vec![mail("verification")],
                Some("cli".into()),
                lines,
            )
            .await
            .unwrap();
        assert_eq!((record.status, record.verify, record.needs_approval), (RequestStatus::Verifying, true, true));
        assert!(store.claim_due_jobs(at(50), at(60), 10).await.unwrap().is_empty(), "its jobs wait");
        let stored = store.subject_link("v1").await.unwrap().unwrap();
        assert_eq!((stored.request_id.as_str(), stored.uses, stored.max_uses), ("r1", 0, 1));
        assert!(stored.usable(at(99)) && !stored.usable(at(100)));
        let unsent = store.unsent_mail(10).await.unwrap();
        assert_eq!((unsent[0].kind.as_str(), unsent[0].request_id.as_deref()), ("verification", Some("r1")));
        assert_eq!(store.due_timers(at(99), 10).await.unwrap().len(), 0);
        assert_eq!(store.due_timers(at(100), 10).await.unwrap()[0].id, "r1");

        // A change decided from another status than the stored one is not written.
        let stale = RequestChange::new("r1", RequestStatus::AwaitingApproval, RequestStatus::Processing, None);
        assert!(!store.change_request(stale, at(10)).await.unwrap());
        let mut verified =
            RequestChange::new("r1", RequestStatus::Verifying, RequestStatus::AwaitingApproval, Some("subject".into()));
        verified.use_link = Some("v1".into());
        verified.audit.push("verified".into());
        assert!(store.change_request(verified, at(10)).await.unwrap());
        let record = store.request("r1").await.unwrap().unwrap();
        assert_eq!((record.status, record.timer_at), (RequestStatus::AwaitingApproval, None));
        assert!(!store.subject_link("v1").await.unwrap().unwrap().usable(at(11)), "used up");

        let mut approved = RequestChange::new(
            "r1",
            RequestStatus::AwaitingApproval,
            RequestStatus::Processing,
            Some("ann@x.y".into()),
        );
        approved.start_jobs = true;
        approved.audit.push("approved".into());
        assert!(store.change_request(approved, at(20)).await.unwrap());
        assert_eq!(store.claim_due_jobs(at(20), at(30), 10).await.unwrap().len(), 1, "its jobs are due now");
        let detail = store.request_detail("r1").await.unwrap().unwrap();
        let trail: Vec<(Option<&str>, &str)> =
            detail.audit.iter().skip(1).map(|e| (e.actor.as_deref(), e.event.as_str())).collect();
        assert_eq!(
            trail,
            [
                (Some("cli"), "verifying: a link was emailed"),
                (Some("subject"), "verified"),
                (Some("ann@x.y"), "approved")
            ]
        );
    }
}

#[tokio::test]
async fn denials_extensions_and_delivery_links_are_kept() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        let new = NewRequest { status: RequestStatus::AwaitingApproval, ..new_request("r1", RequestKind::Deletion, 0) };
        create(&*store, new, vec![job(&a, "p-1")]).await;
        let mut extended =
            RequestChange::new("r1", RequestStatus::AwaitingApproval, RequestStatus::AwaitingApproval, None);
        extended.extension = Some(Extension { days: 10, deadline: at(40 * 86_400), reason: "volume".into() });
        assert!(store.change_request(extended, at(1)).await.unwrap());
        let mut denied = RequestChange::new("r1", RequestStatus::AwaitingApproval, RequestStatus::Denied, None);
        denied.denial_reason = Some("no such customer".into());
        denied.mail.push(mail("denied"));
        assert!(store.change_request(denied, at(2)).await.unwrap());
        let record = store.request("r1").await.unwrap().unwrap();
        assert_eq!(record.status, RequestStatus::Denied);
        assert_eq!(record.finished_at, Some(at(2)));
        assert_eq!(record.denial_reason.as_deref(), Some("no such customer"));
        let extension = record.extension.clone().unwrap();
        assert_eq!((extension.days, extension.deadline, extension.reason.as_str()), (10, at(40 * 86_400), "volume"));
        assert_eq!(record.effective_deadline(), at(40 * 86_400));

        // Download links: a newer one revokes the older; uses are counted up to the limit.
        let new = NewRequest { status: RequestStatus::AwaitingDelivery, ..new_request("r2", RequestKind::Access, 5) };
        create(&*store, new, vec![]).await;
        for (digest, time) in [("d1", 6), ("d2", 7)] {
            let mut delivery =
                RequestChange::new("r2", RequestStatus::AwaitingDelivery, RequestStatus::AwaitingDelivery, None);
            delivery.link = Some(link(digest, SubjectLinkPurpose::Download, 1000, 2));
            assert!(store.change_request(delivery, at(time)).await.unwrap());
        }
        assert!(store.subject_link("d1").await.unwrap().unwrap().revoked);
        let latest = store.latest_link("r2", SubjectLinkPurpose::Download).await.unwrap().unwrap();
        assert_eq!((latest.revoked, latest.max_uses), (false, 2));
        assert!(!store.use_link("d1", "download", at(8)).await.unwrap().unwrap().1, "a revoked link is not used");
        assert!(store.use_link("d2", "download", at(8)).await.unwrap().unwrap().1);
        assert!(store.use_link("d2", "download", at(9)).await.unwrap().unwrap().1);
        assert!(!store.use_link("d2", "download", at(10)).await.unwrap().unwrap().1, "two downloads, then no more");
        assert_eq!(store.use_link("nope", "download", at(10)).await.unwrap(), None);
        let downloads = store.request_detail("r2").await.unwrap().unwrap().audit;
        assert_eq!(downloads.iter().filter(|e| e.event == "download").count(), 2);
        assert!(store.latest_link("r1", SubjectLinkPurpose::Download).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn notices_are_due_once_per_kind_and_mail_is_sent_or_retried() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        // Deadline at 30 days; both are open.
        create(&*store, new_request("r1", RequestKind::Deletion, 0), vec![job(&a, "p-1")]).await;
        let soon = time::Duration::days(5);
        assert!(store.notice_candidates(at(10 * 86_400), soon).await.unwrap().is_empty());
        let due = store.notice_candidates(at(26 * 86_400), soon).await.unwrap();
        assert_eq!(due.len(), 1);
        let mut told = RequestChange::new("r1", RequestStatus::Processing, RequestStatus::Processing, None);
        told.notices = NOTICE_DUE_SOON;
        told.mail.push(mail("due_soon"));
        assert!(store.change_request(told, at(26 * 86_400)).await.unwrap());
        assert!(store.notice_candidates(at(27 * 86_400), soon).await.unwrap().is_empty(), "told once");
        assert_eq!(store.notice_candidates(at(31 * 86_400), soon).await.unwrap().len(), 1, "then overdue");

        // Mail: due at once, retried when it fails, gone from the list once sent.
        let unsent = store.unsent_mail(10).await.unwrap();
        assert_eq!(unsent.len(), 1);
        let id = unsent[0].id;
        assert_eq!(store.due_mail(at(26 * 86_400), 10).await.unwrap().len(), 1);
        store.mail_failed(id, "connection refused", at(27 * 86_400)).await.unwrap();
        assert!(store.due_mail(at(26 * 86_400 + 1), 10).await.unwrap().is_empty(), "waits for its retry");
        let retried = store.due_mail(at(27 * 86_400), 10).await.unwrap();
        assert_eq!((retried[0].attempts, retried[0].last_error.as_deref()), (1, Some("connection refused")));
        assert!(store.mail_sent(id, Some("ann@example.com"), at(28 * 86_400)).await.unwrap());
        assert!(!store.mail_sent(id, None, at(28 * 86_400)).await.unwrap(), "sent once");
        assert!(store.unsent_mail(10).await.unwrap().is_empty());
        store.queue_mail(vec![mail("failed")], at(29 * 86_400)).await.unwrap();
        assert_eq!(store.unsent_mail(10).await.unwrap()[0].request_id, None);
    }
}

#[tokio::test]
async fn the_report_and_the_audit_log_read_what_happened() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        for (id, day) in [("r1", 0), ("r2", 1), ("r3", 2)] {
            create(&*store, new_request(id, RequestKind::Deletion, day * 86_400), vec![job(&a, &format!("p-{id}"))])
                .await;
        }
        let received: Vec<String> =
            store.requests_received(at(86_400), at(3 * 86_400)).await.unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(received, ["r2", "r3"]);
        assert_eq!(store.requests_to_summarize().await.unwrap().len(), 3);

        store.record_activity("ann@example.com", "signed in", at(5 * 86_400)).await.unwrap();
        let log = store.audit_log(None, 2).await.unwrap();
        assert_eq!(
            (log[0].actor.as_str(), log[0].event.as_str(), log[0].request_id.as_deref()),
            ("ann@example.com", "signed in", None)
        );
        assert_eq!((log[1].actor.as_str(), log[1].request_id.as_deref()), ("system", Some("r3")));
        let older = store.audit_log(Some(at(86_400 + 1)), 10).await.unwrap();
        let ids: Vec<Option<&str>> = older.iter().map(|e| e.request_id.as_deref()).collect();
        assert_eq!(ids, [Some("r2"), Some("r1")]);
    }
}
