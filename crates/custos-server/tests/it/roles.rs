//! The Custom Access Roles API: tasks and the role manifest, with the seed's
//! own examples, limits and errors.

use custos_core::scope::Scope;
use custos_server::provision;
use custos_server::sealing::MasterKey;
use custos_server::ServeConfig;
use serde_json::{json, Value};

use crate::helpers::{apps, default_apps, messages};

/// The task ids of a role in a manifest body.
fn task_ids(role: &Value) -> Vec<&str> {
    role["tasks"].as_array().unwrap().iter().map(|t| t["task_id"].as_str().unwrap()).collect()
}

/// The request body of the seed's "Create a custom role".
fn seed_create_body() -> Value {
    json!({"roles": [
        {"name": "Marketer", "description": "Marketers can view and create new audiences",
         "tasks": [{"task_id": "audiences:*"}, {"task_id": "user_activity:view"}], "role_id": "myRoleId1"},
        {"name": "Activation Admin",
         "description": "Activation Admins can connect audiences to outputs and setup new connections for production",
         "tasks": [{"task_id": "connections:*"}, {"task_id": "live_stream:view"}], "role_id": "myRoleId2"}
    ]})
}

/// The request body of the seed's "Modify a custom role" and "Delete a custom role".
fn seed_modify_body() -> Value {
    json!({"roles": [
        {"name": "Marketing Admin", "description": "Marketers can view and create new audiences",
         "tasks": [{"task_id": "audiences:*"}, {"task_id": "user_activity:view"}, {"task_id": "calculated_attributes:view"}],
         "role_id": "myRoleId1"}
    ]})
}

fn role(role_id: &str, name: &str, tasks: &[&str]) -> Value {
    json!({"role_id": role_id, "name": name, "description": format!("{name} role"),
           "tasks": tasks.iter().map(|t| json!({"task_id": t})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn the_task_list_holds_every_task_of_the_permissions_reference() {
    for app in default_apps().await {
        let (status, body) = app.get(&app.platform("/tasks"), &app.token().await).await;
        assert_eq!(status, 200);
        let tasks = body.as_array().unwrap();
        let ids: Vec<&str> = tasks.iter().map(|t| t["task_id"].as_str().unwrap()).collect();
        for expected in [
            "user:core",
            "user_activity:view",
            "user_groups:view",
            "user_groups:*",
            "catalog:*",
            "data_plans:view",
            "data_plans:*",
            "live_stream:view",
            "calculated_attributes:view",
            "calculated_attributes:draft",
            "calculated_attributes:*",
            "rules:view",
            "rules:*",
            "audiences:view",
            "audiences:edit",
            "audiences:*",
            "connections:view",
            "connections:connect_integration",
            "connections:connect_audiences",
            "connections:configure_inputs",
            "connections:configure_outputs",
            "connections:*",
            "data_filter:view",
            "data_filter:*",
            "privacy:settings",
            "privacy:*",
            "workspaces:*",
            "user_management:view",
            "user_management:*",
            "identity_settings:*",
            "api_credentials:*",
            "tieredevents:*",
        ] {
            assert!(ids.contains(&expected), "{expected} missing");
        }
        for task in tasks {
            assert!(task["display_name"].as_str().is_some_and(|s| !s.is_empty()));
            assert!(task["description"].as_str().is_some_and(|s| !s.is_empty()));
        }
    }
}

#[tokio::test]
async fn the_seed_walkthrough_creates_modifies_and_deletes_roles() {
    for app in default_apps().await {
        let token = app.token().await;
        let (status, empty) = app.get(&app.platform("/roles"), &token).await;
        assert_eq!(status, 200);
        assert_eq!(empty["roles"], json!([]));

        // The seed's curl example, byte for byte.
        let (status, body) = app
            .put_raw(
                &app.platform("/roles"),
                &token,
                r#"{
    "roles": [
        {
            "role_id": "CustomMarketer",
            "name": "Marketer",
            "description": "The Marketer role can view, edit, and create audiences and access the User Activity View",
            "tasks": [
                {
                    "task_id": "rules:*"
                },
                {
                    "task_id": "user_activity:view"
                }
            ]
        }
    ]
}"#,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(task_ids(&body["roles"][0]), ["user:core", "rules:*", "user_activity:view"]);

        // Create: a new manifest with two new role ids replaces the first one.
        let (status, created) = app.put_json(&app.platform("/roles"), &token, &seed_create_body()).await;
        assert_eq!(status, 200);
        let roles = created["roles"].as_array().unwrap();
        assert_eq!(roles.len(), 2);
        assert_eq!(roles[0]["role_id"], "myRoleId1");
        assert_eq!(task_ids(&roles[0]), ["user:core", "audiences:*", "user_activity:view"]);
        assert_eq!(task_ids(&roles[1]), ["user:core", "connections:*", "live_stream:view"]);
        let stamp = created["last_modified_on"].as_str().unwrap();
        assert!(
            time::PrimitiveDateTime::parse(
                stamp,
                &time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")
            )
            .is_ok(),
            "{stamp}"
        );
        assert!(created["last_modified_by"].as_str().unwrap().contains("custos init"));

        let (_, fetched) = app.get(&app.platform("/roles"), &token).await;
        assert_eq!(fetched, created, "GET answers what PUT stored");

        // Modify myRoleId1 and, by omitting it, delete myRoleId2.
        let (status, modified) = app.put_json(&app.platform("/roles"), &token, &seed_modify_body()).await;
        assert_eq!(status, 200);
        assert_eq!(modified["roles"].as_array().unwrap().len(), 1);
        assert_eq!(modified["roles"][0]["name"], "Marketing Admin");
        assert_eq!(
            task_ids(&modified["roles"][0]),
            ["user:core", "audiences:*", "user_activity:view", "calculated_attributes:view"]
        );

        // Round trip: the GET body uploads as it is.
        let (_, current) = app.get(&app.platform("/roles"), &token).await;
        let (status, again) = app.put_json(&app.platform("/roles"), &token, &current).await;
        assert_eq!(status, 200);
        assert_eq!(again["roles"], current["roles"]);
    }
}

fn template(role_id: &str) -> Value {
    let path = format!("{}/../custos-core/src/access/standard_roles/{role_id}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const TEMPLATES: [&str; 7] = [
    "user-role",
    "admin-role",
    "compliance-role",
    "admin-compliance-role",
    "audiences-only-role",
    "read-only-role",
    "support-role",
];

#[tokio::test]
async fn the_seven_standard_role_templates_upload_as_they_are() {
    for app in default_apps().await {
        let token = app.token().await;
        let mut all = Vec::new();
        for role_id in TEMPLATES {
            let template = template(role_id);
            let (status, body) = app.put_json(&app.platform("/roles"), &token, &template).await;
            assert_eq!(status, 200, "{role_id}: {body}");
            let uploaded = &template["roles"][0];
            let stored = &body["roles"][0];
            assert_eq!(stored["name"], uploaded["name"]);
            assert_eq!(stored["description"], uploaded["description"]);
            let mut expected = vec!["user:core"];
            expected.extend(task_ids(uploaded));
            assert_eq!(task_ids(stored), expected, "{role_id}");
            all.push(uploaded.clone());
        }
        let (status, body) = app.put_json(&app.platform("/roles"), &token, &json!({ "roles": all })).await;
        assert_eq!(status, 200, "all seven at once: {body}");
        assert_eq!(body["roles"].as_array().unwrap().len(), 7);
    }
}

#[tokio::test]
async fn every_limit_and_rule_of_the_seed_is_a_400_naming_the_field_and_changes_nothing() {
    for app in default_apps().await {
        let token = app.token().await;
        let (status, before) = app.put_json(&app.platform("/roles"), &token, &seed_create_body()).await;
        assert_eq!(status, 200);

        let long = |n: usize| "x".repeat(n);
        let too_many: Vec<Value> = (0..101).map(|i| role(&format!("r{i}"), &format!("Role {i}"), &[])).collect();
        let cases: Vec<(Value, &str)> = vec![
            (json!({ "roles": too_many }), "at most 100 custom roles"),
            (json!({"roles": [role(&long(65), "A", &[])]}), "roles[0].role_id: exceeds the maximum length of 64"),
            (json!({"roles": [role("a", &long(65), &[])]}), "roles[0].name: exceeds the maximum length of 64"),
            (
                json!({"roles": [{"role_id": "a", "name": "A", "description": long(257), "tasks": []}]}),
                "roles[0].description: exceeds the maximum length of 256",
            ),
            (json!({"roles": [{"name": "A", "description": "d", "tasks": []}]}), "roles[0].role_id: is required"),
            (json!({"roles": [{"role_id": "a", "description": "d", "tasks": []}]}), "roles[0].name: is required"),
            (json!({"roles": [{"role_id": "a", "name": "A", "tasks": []}]}), "roles[0].description: is required"),
            (
                json!({"roles": [{"role_id": "a", "name": " ", "description": "d", "tasks": []}]}),
                "roles[0].name: is required",
            ),
            (json!({"roles": [role("a", "Line\nbreak", &[])]}), "roles[0].name: contains a restricted"),
            (json!({"roles": [role("a\u{0}", "A", &[])]}), "roles[0].role_id: contains a restricted"),
            (
                json!({"roles": [role("a", "A", &["audiences:*", "audiences:fly", "nope"])]}),
                "Tasks not found in role `a`: audiences:fly, nope",
            ),
            (
                json!({"roles": [{"role_id": 7, "name": "A", "description": "d", "tasks": []}]}),
                "roles[0].role_id: must be a string",
            ),
            (json!({"roles": "all of them"}), "roles: must be an array"),
            (json!({"manifest": []}), "roles: is required"),
            (json!({"roles": [role("a", "A", &[]), role("a", "B", &[])]}), "`a` appears more than once"),
        ];
        for (body, expected) in cases {
            let (status, answer) = app.put_json(&app.platform("/roles"), &token, &body).await;
            assert_eq!(status, 400, "{expected}: {answer}");
            assert!(messages(&answer).contains(expected), "expected `{expected}` in {answer}");
        }

        let (status, answer) = app.put_raw(&app.platform("/roles"), &token, r#"{"roles": [{"role_id": "a",}]}"#).await;
        assert_eq!(status, 400);
        assert!(messages(&answer).contains("Invalid JSON syntax in custom role manifest"), "{answer}");

        let (_, after) = app.get(&app.platform("/roles"), &token).await;
        assert_eq!(after, before, "{}: rejected uploads changed nothing", app.backend);
    }
}

#[tokio::test]
async fn one_hundred_roles_are_accepted() {
    for app in default_apps().await {
        let roles: Vec<Value> =
            (0..100).map(|i| role(&format!("r{i}"), &format!("Role {i}"), &["rules:view"])).collect();
        let (status, body) =
            app.put_json(&app.platform("/roles"), &app.token().await, &json!({ "roles": roles })).await;
        assert_eq!(status, 200);
        assert_eq!(body["roles"].as_array().unwrap().len(), 100);
    }
}

#[tokio::test]
async fn duplicate_role_names_are_a_409_conflict() {
    for app in default_apps().await {
        let token = app.token().await;
        let body = json!({"roles": [role("a", "Marketer", &[]), role("b", "marketer", &[])]});
        let (status, answer) = app.put_json(&app.platform("/roles"), &token, &body).await;
        assert_eq!(status, 409);
        assert_eq!(answer["errors"][0]["code"], "CONFLICT");
        assert!(messages(&answer).contains("marketer"));
        assert_eq!(app.get(&app.platform("/roles"), &token).await.1["roles"], json!([]));
    }
}

#[tokio::test]
async fn a_role_assigned_to_a_user_cannot_be_deleted() {
    for app in default_apps().await {
        let token = app.token().await;
        app.put_json(&app.platform("/roles"), &token, &seed_create_body()).await;
        let (status, _) =
            app.put_json(&app.platform("/users/ann@example.com"), &token, &json!({"role_id": "myRoleId2"})).await;
        assert_eq!(status, 200);

        // The seed's modify body omits myRoleId2, which Ann holds.
        let (status, answer) = app.put_json(&app.platform("/roles"), &token, &seed_modify_body()).await;
        assert_eq!(status, 400);
        assert!(messages(&answer).contains("Custom role is assigned to a user and may not be deleted: myRoleId2"));
        assert_eq!(app.get(&app.platform("/roles"), &token).await.1["roles"].as_array().unwrap().len(), 2);

        let response =
            app.http.delete(app.platform("/users/ann@example.com")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 204);
        assert_eq!(app.put_json(&app.platform("/roles"), &token, &seed_modify_body()).await.0, 200);
    }
}

#[tokio::test]
async fn roles_belong_to_the_organization_and_are_visible_from_all_its_accounts() {
    for app in default_apps().await {
        let token = app.token().await;
        app.put_json(&app.platform("/roles"), &token, &seed_create_body()).await;
        // A second organization in the same store sees none of it, nor can it reach the first.
        let other = provision::create_organization(&*app.store, &MasterKey::generate(), "Other").await.unwrap();
        let other_token = app.token_of(&other.api_client.key, &other.api_client.secret).await;
        let other_url = app
            .url(&format!("/platform/v2/organizations/{}/accounts/{}/roles", other.ids.org_id, other.ids.account_id));
        assert_eq!(app.get(&other_url, &other_token).await.1["roles"], json!([]));

        let (status, body) = app.get(&app.platform("/roles"), &other_token).await;
        assert_eq!(status, 404, "{}", app.backend);
        let (status_unknown, body_unknown) = app
            .get(
                &app.url(&format!("/platform/v2/organizations/999999/accounts/{}/roles", other.ids.account_id)),
                &other_token,
            )
            .await;
        assert_eq!(status_unknown, 404);
        assert_eq!(body["errors"][0]["code"], body_unknown["errors"][0]["code"], "another tenant looks like nothing");
        assert_eq!(app.put_json(&app.platform("/roles"), &other_token, &seed_modify_body()).await.0, 404);
        assert_eq!(app.get(&app.platform("/roles"), &token).await.1["roles"].as_array().unwrap().len(), 2);

        // The organization's own path with another organization's account is 404 too.
        let mixed = app
            .url(&format!("/platform/v2/organizations/{}/accounts/{}/roles", app.org.ids.org_id, other.ids.account_id));
        assert_eq!(app.get(&mixed, &token).await.0, 404);
        let not_an_int = app.url(&format!("/platform/v2/organizations/{}/accounts/abc/roles", app.org.ids.org_id));
        assert_eq!(app.get(&not_an_int, &token).await.0, 404);
    }
}

#[tokio::test]
async fn every_account_of_the_organization_sees_and_edits_the_same_roles() {
    for app in default_apps().await {
        let token = app.token().await;
        app.put_json(&app.platform("/roles"), &token, &seed_create_body()).await;
        let second = app
            .store
            .create_account(app.org.ids.org_id, "Second account", time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        let second_url = |suffix: &str| {
            app.url(&format!("/platform/v2/organizations/{}/accounts/{second}{suffix}", app.org.ids.org_id))
        };
        let (status, seen) = app.get(&second_url("/roles"), &token).await;
        assert_eq!(status, 200, "{}", app.backend);
        assert_eq!(seen, app.get(&app.platform("/roles"), &token).await.1);
        assert_eq!(app.put_json(&second_url("/roles"), &token, &seed_modify_body()).await.0, 200);
        let (_, from_first) = app.get(&app.platform("/roles"), &token).await;
        assert_eq!(
            from_first["roles"].as_array().unwrap().len(),
            1,
            "changed from the second account, seen from the first"
        );
    }
}

#[tokio::test]
async fn a_credential_without_the_custom_roles_scope_gets_403() {
    for app in default_apps().await {
        let issued =
            provision::create_api_credential(&*app.store, app.org.ids.org_id, "profile reader", vec![Scope::Profile])
                .await
                .unwrap();
        let token = app.token_of(&issued.key, &issued.secret).await;
        for path in ["/tasks", "/roles", "/users"] {
            let (status, body) = app.get(&app.platform(path), &token).await;
            assert_eq!(status, 403, "{path}");
            assert!(messages(&body).contains("custom_roles"));
        }
        assert_eq!(app.put_json(&app.platform("/roles"), &token, &seed_create_body()).await.0, 403);
    }
}

#[tokio::test]
async fn more_than_one_hundred_requests_a_minute_get_429_with_retry_after() {
    for app in default_apps().await {
        let token = app.token().await;
        // The budget refills at 100 a minute (one per 600 ms) as the loop runs,
        // so a slow machine may see a few more than 100 succeed, never fewer.
        let started = std::time::Instant::now();
        let mut succeeded = 0;
        let response = loop {
            let response = app.http.get(app.platform("/tasks")).bearer_auth(&token).send().await.unwrap();
            if response.status() != 200 {
                break response;
            }
            succeeded += 1;
            assert!(succeeded <= 200, "never limited");
        };
        let refilled = (started.elapsed().as_millis() / 600) as usize;
        assert!((100..=100 + refilled + 1).contains(&succeeded), "{succeeded} succeeded");
        assert_eq!(response.status(), 429);
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(response.headers()["x-mp-rate-limit-exceeded"], "org");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "RATE_LIMIT_EXCEEDED");

        // The limit is per organization.
        let other = provision::create_organization(&*app.store, &MasterKey::generate(), "Other").await.unwrap();
        let other_token = app.token_of(&other.api_client.key, &other.api_client.secret).await;
        let other_url = app
            .url(&format!("/platform/v2/organizations/{}/accounts/{}/tasks", other.ids.org_id, other.ids.account_id));
        assert_eq!(app.get(&other_url, &other_token).await.0, 200);
    }
}

#[tokio::test]
async fn a_rate_limited_upload_changes_nothing() {
    let config = ServeConfig { roles_requests_per_minute: 2, ..ServeConfig::mparticle_defaults() };
    for app in apps(config).await {
        let token = app.token().await;
        assert_eq!(app.put_json(&app.platform("/roles"), &token, &seed_create_body()).await.0, 200);
        assert_eq!(app.get(&app.platform("/roles"), &token).await.0, 200);
        assert_eq!(app.put_json(&app.platform("/roles"), &token, &seed_modify_body()).await.0, 429);
        let manifest = app.store.role_manifest(app.org.ids.org_id).await.unwrap();
        assert_eq!(manifest.roles.len(), 2, "{}", app.backend);
    }
}

#[tokio::test]
async fn concurrent_uploads_never_interleave() {
    for app in default_apps().await {
        let token = app.token().await;
        let mut uploads = Vec::new();
        for writer in 0..10 {
            let (http, url, token) = (app.http.clone(), app.platform("/roles"), token.clone());
            uploads.push(tokio::spawn(async move {
                let roles: Vec<Value> =
                    (0..30).map(|i| role(&format!("w{writer}-{i}"), &format!("W{writer} {i}"), &["rules:*"])).collect();
                http.put(url).bearer_auth(token).json(&json!({ "roles": roles })).send().await.unwrap().status()
            }));
        }
        for upload in uploads {
            assert_eq!(upload.await.unwrap(), 200);
        }
        let (_, manifest) = app.get(&app.platform("/roles"), &token).await;
        let ids: Vec<&str> =
            manifest["roles"].as_array().unwrap().iter().map(|r| r["role_id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 30, "{}", app.backend);
        let writer = ids[0].split('-').next().unwrap();
        assert!(ids.iter().all(|id| id.starts_with(&format!("{writer}-"))), "one upload, whole: {ids:?}");
    }
}
