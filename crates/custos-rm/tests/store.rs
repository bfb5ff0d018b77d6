//! The storage conformance suite: every test runs against SQLite and, when
//! `CUSTOS_TEST_DATABASE_URL` is set, against PostgreSQL (in a fresh schema).

use std::sync::Arc;
use std::time::Duration;

use custos_rm::domain::job::{JobState, JobStatus, Step};
use custos_rm::domain::request::{Regulation, RequestKind, RequestStatus};
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
    }
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
        store.add_api_token("digest-1", at(0)).await.unwrap();
        store.add_api_token("digest-2", at(1)).await.unwrap();
        assert_eq!(store.api_token_digests().await.unwrap(), ["digest-1", "digest-2"]);
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
        store.insert_connection(new_connection("eu")).await.unwrap();
    }
}

#[tokio::test]
async fn a_request_fans_out_to_its_connections_with_fixed_processor_ids() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        let b = store.insert_connection(new_connection("b")).await.unwrap();
        let record = store
            .create_request(new_request("r1", RequestKind::Deletion, 10), vec![job(&a, "p-a"), job(&b, "p-b")])
            .await
            .unwrap();
        assert_eq!(record.status, RequestStatus::Pending);
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
        store.create_request(new_request("r1", RequestKind::Access, 0), vec![job(&a, "p-1")]).await.unwrap();
        store.create_request(new_request("r2", RequestKind::Access, 5), vec![job(&a, "p-2")]).await.unwrap();
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
        store
            .create_request(new_request("r1", RequestKind::Access, 0), vec![job(&a, "p-a"), job(&b, "p-b")])
            .await
            .unwrap();
        let ids = store.claim_due_jobs(at(1), at(100), 10).await.unwrap();
        let (job_a, job_b) = (ids[0], ids[1]);

        let submitted = JobUpdate {
            mpids_sealed: Some("sealed-mpids".into()),
            ..JobUpdate::new(state(Step::Waiting, JobStatus::InProgress), Some(at(600)), "submitted")
        };
        assert!(store.record_step(job_a, submitted, at(2)).await.unwrap());
        assert_eq!(request_status(&*store, "r1").await, RequestStatus::InProgress);
        let item = store.work_item(job_a).await.unwrap().unwrap();
        assert_eq!(item.mpids_sealed.as_deref(), Some("sealed-mpids"));
        let no_data = JobUpdate::new(state(Step::Done, JobStatus::NoData), None, "lookup: no profile");
        assert!(store.record_step(job_b, no_data, at(3)).await.unwrap());
        assert_eq!(request_status(&*store, "r1").await, RequestStatus::InProgress);

        let downloaded = JobUpdate {
            results_sealed: Some(vec![1, 2, 3]),
            processor_status: Some("completed".into()),
            results_url: Some("http://a.test/v3/requests/p-a/results".into()),
            ..JobUpdate::new(state(Step::Done, JobStatus::Completed), None, "results downloaded")
        };
        assert!(store.record_step(job_a, downloaded, at(4)).await.unwrap());
        let detail = store.request_detail("r1").await.unwrap().unwrap();
        assert_eq!(detail.request.status, RequestStatus::Completed);
        assert_eq!(detail.request.finished_at, Some(at(4)));
        assert!(detail.jobs[0].has_results && !detail.jobs[1].has_results);
        assert_eq!(detail.jobs[0].processor_status.as_deref(), Some("completed"));
        assert_eq!(detail.jobs[0].next_attempt_at, None);
        let events: Vec<(Option<&str>, &str)> =
            detail.audit.iter().skip(1).map(|e| (e.connection_name.as_deref(), e.event.as_str())).collect();
        assert_eq!(
            events,
            [(Some("a"), "submitted"), (Some("b"), "lookup: no profile"), (Some("a"), "results downloaded")]
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
        assert_eq!(request_status(&*store, "r1").await, RequestStatus::Completed);
        assert_eq!(store.request_detail("r1").await.unwrap().unwrap().audit.len(), 4);
    }
}

#[tokio::test]
async fn a_callback_applies_to_an_unclaimed_job_and_wakes_a_claimed_one() {
    for Backend { store, .. } in backends().await {
        let a = store.insert_connection(new_connection("a")).await.unwrap();
        store.create_request(new_request("r1", RequestKind::Deletion, 0), vec![job(&a, "p-a")]).await.unwrap();
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
        store
            .create_request(new_request("r1", RequestKind::Deletion, 0), vec![job(&a, "p-a1"), job(&b, "p-b1")])
            .await
            .unwrap();
        store.create_request(new_request("r2", RequestKind::Deletion, 1), vec![job(&a, "p-a2")]).await.unwrap();
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
        store
            .create_request(new_request("r3", RequestKind::Access, 4), vec![job(&a, "p-a3"), job(&b, "p-b3")])
            .await
            .unwrap();
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
            store
                .create_request(new_request(id, RequestKind::Deletion, n), vec![job(&a, &format!("p-{id}"))])
                .await
                .unwrap();
        }
        let done = store.work_item_by_processor_request("p-r2").await.unwrap().unwrap().job.id;
        store
            .record_step(done, JobUpdate::new(state(Step::Done, JobStatus::Completed), None, "done"), at(10))
            .await
            .unwrap();
        let ids = |records: Vec<RequestRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let page = |status, overdue| RequestFilter { status, overdue, limit: 10, offset: 0 };
        assert_eq!(ids(store.list_requests(&page(None, None), at(20)).await.unwrap()), ["r3", "r2", "r1"]);
        assert_eq!(
            ids(store.list_requests(&page(Some(RequestStatus::Completed), None), at(20)).await.unwrap()),
            ["r2"]
        );
        assert_eq!(
            ids(store.list_requests(&page(Some(RequestStatus::Pending), None), at(20)).await.unwrap()),
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
                RequestCount { status: RequestStatus::Pending, count: 2 }
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
        store.create_request(new_request("r1", RequestKind::Deletion, 0), jobs).await.unwrap();
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
