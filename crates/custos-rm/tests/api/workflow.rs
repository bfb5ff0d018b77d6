//! The workflow through the API: each action's rules and statuses, the
//! subject's verification page, the timers (moved by the manual clock, no
//! sleeping), operator notices, mail kept for sending by hand, the report.

use custos_rm::domain::request::{Regulation, RequestKind};
use custos_rm::domain::role::{Actor, Role};
use serde_json::{json, Value};
use time::Duration;

use super::{start_with, Service};

const SUBJECT: &str = "ann.subject@example.com";

async fn workflow_service() -> Service {
    let service = start_with(|mut config| {
        config.intake.verify = vec![Regulation::Gdpr];
        config.intake.require_approval = vec![RequestKind::Access, RequestKind::Deletion];
        config
    })
    .await;
    service.fake_connection().await;
    service
}

async fn create(service: &Service, body: Value) -> Value {
    let (status, request) = service.post("/rm/v1/requests", body).await;
    assert_eq!(status, 201, "{request}");
    request
}

fn body(kind: &str, regulation: &str) -> Value {
    json!({"type": kind, "regulation": regulation, "subject": {"email": SUBJECT}})
}

/// The unsent messages to `to` of `kind`.
async fn mail(service: &Service, to: &str, kind: &str) -> Vec<Value> {
    let (status, outbox) = service.get("/rm/v1/outbox").await;
    assert_eq!(status, 200, "{outbox}");
    assert_eq!(outbox["smtp"], false);
    outbox["messages"].as_array().unwrap().iter().filter(|m| m["to"] == to && m["kind"] == kind).cloned().collect()
}

fn link_of(message: &Value) -> String {
    let links = message["links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "one link: {message}");
    links[0].as_str().unwrap().to_owned()
}

fn error(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap()
}

#[tokio::test]
async fn a_verified_and_approved_request_reaches_processing_and_its_trail_says_who() {
    let service = workflow_service().await;
    let request = create(&service, body("access", "gdpr")).await;
    let id = request["id"].as_str().unwrap();
    assert_eq!(
        (&request["status"], &request["verify"], &request["approval_required"]),
        (&json!("verifying"), &json!(true), &json!(true))
    );

    // Approval waits for the subject.
    let (status, refused) = service.post(&format!("/rm/v1/requests/{id}/approve"), json!({})).await;
    assert_eq!(status, 409);
    assert!(error(&refused).contains("is verifying: it cannot be approved"), "{refused}");

    let messages = mail(&service, SUBJECT, "verification").await;
    let link = link_of(&messages[0]);
    assert!(link.starts_with(&format!("{}/verify/", service.base)), "{link}");
    // Following the link changes nothing: the page asks to confirm.
    let page = service.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(">Confirm</button>"));
    assert_eq!(service.get(&format!("/rm/v1/requests/{id}")).await.1["status"], "verifying");
    let confirmed = service.client.post(&link).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    assert_eq!(service.client.post(&link).send().await.unwrap().status(), 410, "a link works once");
    assert_eq!(service.client.get(&link).send().await.unwrap().status(), 410);

    let manager = service.token(Role::RequestManager).await;
    let (status, approved) =
        service.call(reqwest::Method::POST, &format!("/rm/v1/requests/{id}/approve"), Some(&manager), None).await;
    assert_eq!((status, &approved["status"]), (200, &json!("processing")), "{approved}");
    let trail: Vec<(String, String)> = approved["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap().to_owned(), e["event"].as_str().unwrap().to_owned()))
        .collect();
    assert!(trail.iter().any(|(actor, event)| actor == "subject" && event.starts_with("verified")), "{trail:?}");
    assert!(trail.iter().any(|(actor, event)| actor == "token request_manager" && event == "approved: processing"));
    assert!(!approved.to_string().contains(SUBJECT), "no identity in a request's JSON");
    let (status, again) = service.post(&format!("/rm/v1/requests/{id}/approve"), json!({})).await;
    assert_eq!(status, 409);
    assert!(error(&again).contains("is processing"), "{again}");
}

#[tokio::test]
async fn a_denial_needs_a_reason_and_the_subject_is_told_it() {
    let service = workflow_service().await;
    let request =
        create(&service, json!({"type": "deletion", "regulation": "ccpa", "subject": {"email": SUBJECT}})).await;
    assert_eq!(request["status"], "awaiting_approval", "CCPA is not verified here");
    let id = request["id"].as_str().unwrap();
    let deny = format!("/rm/v1/requests/{id}/deny");
    for empty in [json!({}), json!({"reason": "   "})] {
        let (status, body) = service.post(&deny, empty).await;
        assert_eq!(status, 422, "{body}");
    }
    let (status, denied) = service.post(&deny, json!({"reason": "We hold no account for this address."})).await;
    assert_eq!((status, &denied["status"]), (200, &json!("denied")), "{denied}");
    assert_eq!(denied["denial_reason"], "We hold no account for this address.");
    let told = mail(&service, SUBJECT, "denied").await;
    assert!(told[0]["body"].as_str().unwrap().contains("We hold no account for this address."));
    assert!(told[0]["links"].as_array().unwrap().is_empty());
    let (status, body) = service.post(&deny, json!({"reason": "again"})).await;
    assert_eq!(status, 409);
    assert!(error(&body).contains("is denied"), "{body}");
    let (status, body) = service.post(&format!("/rm/v1/requests/{id}/deliver"), json!({})).await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn an_extension_is_once_and_within_the_law() {
    let service = workflow_service().await;
    let opt_out =
        create(&service, json!({"type": "opt_out", "regulation": "ccpa", "subject": {"email": SUBJECT}})).await;
    assert_eq!(opt_out["status"], "processing", "opt-outs need no approval here");
    let id = opt_out["id"].as_str().unwrap();
    let extend = format!("/rm/v1/requests/{id}/extend");
    let (status, body) = service.post(&extend, json!({"reason": "volume", "days": 46})).await;
    assert_eq!(status, 422, "CCPA: 45 further days at most: {body}");
    let (status, body) = service.post(&extend, json!({"reason": "", "days": 10})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = service.post(&extend, json!({"reason": "volume"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, extended) = service.post(&extend, json!({"reason": "Many systems hold data.", "days": 45})).await;
    assert_eq!(status, 200, "{extended}");
    let deadline = time::OffsetDateTime::parse(
        extended["deadline"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let later = time::OffsetDateTime::parse(
        extended["extended_deadline"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(later - deadline, Duration::days(45));
    assert_eq!(extended["extension"], json!({"days": 45, "reason": "Many systems hold data."}));
    let told = mail(&service, SUBJECT, "extended").await;
    assert!(told[0]["body"].as_str().unwrap().contains("Many systems hold data."));
    let (status, body) = service.post(&extend, json!({"reason": "more", "days": 1})).await;
    assert_eq!(status, 409, "{body}");
    assert!(error(&body).contains("already extended"), "{body}");

    // GDPR: two further months from the original deadline.
    let gdpr = create(
        &service,
        json!({"type": "access", "regulation": "gdpr", "verify": false, "subject": {"email": SUBJECT}}),
    )
    .await;
    let extend = format!("/rm/v1/requests/{}/extend", gdpr["id"].as_str().unwrap());
    assert_eq!(service.post(&extend, json!({"reason": "r", "days": 63})).await.0, 422);
    assert_eq!(service.post(&extend, json!({"reason": "r", "days": 59})).await.0, 200);
}

#[tokio::test]
async fn bulk_approval_says_per_request_what_came_of_it() {
    let service = workflow_service().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let request =
            create(&service, json!({"type": "deletion", "regulation": "ccpa", "subject": {"email": SUBJECT}})).await;
        ids.push(request["id"].as_str().unwrap().to_owned());
    }
    let verifying = create(&service, body("deletion", "gdpr")).await;
    ids.push(verifying["id"].as_str().unwrap().to_owned());
    ids.push("nope".into());
    let (status, answer) = service.post("/rm/v1/requests/approve", json!({"ids": ids})).await;
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!((&results[0]["status"], &results[1]["status"]), (&json!("processing"), &json!("processing")));
    assert_eq!(results[2]["error"]["status"], 409);
    assert_eq!(results[3]["error"]["status"], 404);
    assert_eq!(service.post("/rm/v1/requests/approve", json!({"ids": 5})).await.0, 400);
}

#[tokio::test]
async fn an_unconfirmed_request_closes_when_its_link_expires_and_the_subject_is_told() {
    let service = workflow_service().await;
    let request = create(&service, body("deletion", "gdpr")).await;
    let id = request["id"].as_str().unwrap();
    let link = link_of(&mail(&service, SUBJECT, "verification").await[0]);
    service.clock.advance(Duration::days(7) - Duration::seconds(1));
    service.manager.run_timers().await.unwrap();
    assert_eq!(service.get(&format!("/rm/v1/requests/{id}")).await.1["status"], "verifying");
    service.clock.advance(Duration::seconds(1));
    service.manager.run_timers().await.unwrap();
    let (_, closed) = service.get(&format!("/rm/v1/requests/{id}")).await;
    assert_eq!(closed["status"], "unverified", "{closed}");
    assert_eq!(mail(&service, SUBJECT, "unverified").await.len(), 1);
    let followed = service.client.get(&link).send().await.unwrap();
    assert_eq!(followed.status(), 410);
    assert_eq!(service.client.post(&link).send().await.unwrap().status(), 410);
    // A token never issued reveals nothing, nor does one of another shape.
    for path in
        ["/verify/not-a-token", &format!("/verify/{}", "A".repeat(43)), &format!("/download/{}", "b".repeat(43))]
    {
        let response = service.client.get(format!("{}{path}", service.base)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(!response.text().await.unwrap().contains("request"), "{path}");
    }
}

#[tokio::test]
async fn operators_who_asked_are_told_five_days_before_and_when_overdue_once_each() {
    let service = workflow_service().await;
    service.manager.invite_user("ops@example.com", Role::RequestManager, Some(true), &Actor::Cli).await.unwrap();
    service.manager.invite_user("quiet@example.com", Role::RequestManager, Some(false), &Actor::Cli).await.unwrap();
    let request =
        create(&service, json!({"type": "deletion", "regulation": "ccpa", "subject": {"email": SUBJECT}})).await;
    let id = request["id"].as_str().unwrap();
    service.clock.advance(Duration::days(39));
    service.manager.run_timers().await.unwrap();
    assert!(mail(&service, "ops@example.com", "due_soon").await.is_empty());
    service.clock.advance(Duration::days(1));
    service.manager.run_timers().await.unwrap();
    service.manager.run_timers().await.unwrap();
    let soon = mail(&service, "ops@example.com", "due_soon").await;
    assert_eq!(soon.len(), 1, "once");
    assert!(soon[0]["subject"].as_str().unwrap().contains(id));
    assert!(mail(&service, "quiet@example.com", "due_soon").await.is_empty());
    service.clock.advance(Duration::days(5) + Duration::seconds(1));
    service.manager.run_timers().await.unwrap();
    service.manager.run_timers().await.unwrap();
    assert_eq!(mail(&service, "ops@example.com", "overdue").await.len(), 1);
    let (_, listed) = service.get("/rm/v1/requests?overdue=true&status=awaiting_approval").await;
    assert_eq!(listed["requests"][0]["id"], id);
    let (_, stats) = service.get("/rm/v1/stats").await;
    assert_eq!((&stats["summary"]["open"], &stats["summary"]["overdue"]), (&json!(1), &json!(1)), "{stats}");

    // Mail kept for sending by hand is marked sent.
    let id = mail(&service, "ops@example.com", "overdue").await[0]["id"].as_i64().unwrap();
    let sent =
        service.call(reqwest::Method::POST, &format!("/rm/v1/outbox/{id}/sent"), Some(&service.token), None).await;
    assert_eq!(sent.0, 204);
    assert!(mail(&service, "ops@example.com", "overdue").await.is_empty());
}

#[tokio::test]
async fn the_report_is_csv_without_personal_data() {
    let service = workflow_service().await;
    let request =
        create(&service, json!({"type": "deletion", "regulation": "ccpa", "subject": {"email": SUBJECT}})).await;
    let id = request["id"].as_str().unwrap();
    service.post(&format!("/rm/v1/requests/{id}/deny"), json!({"reason": "duplicate"})).await;
    let today = service.manager.now().date();
    let response = service
        .client
        .get(format!("{}/rm/v1/requests.csv?from={today}&to={today}", service.base))
        .bearer_auth(&service.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,type,regulation,received,deadline,extended,completed,outcome,days_taken");
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with(&format!("{id},deletion,ccpa,")) && lines[1].ends_with(",denied,0"), "{text}");
    assert!(!text.contains(SUBJECT) && !text.contains("duplicate"));
    let yesterday = today - Duration::days(1);
    let (status, _) = service.get(&format!("/rm/v1/requests.csv?from={yesterday}&to={yesterday}")).await;
    assert_eq!(status, 200);
    let (status, body) = service.get("/rm/v1/requests.csv?from=2025-13-01").await;
    assert_eq!(status, 400, "{body}");
}
