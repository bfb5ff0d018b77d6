//! Users of an organization and their roles.

use serde_json::{json, Value};

use crate::helpers::{default_apps, messages};

#[tokio::test]
async fn users_are_assigned_custom_or_standard_roles_and_listed_with_their_permissions() {
    for app in default_apps().await {
        let token = app.token().await;
        let manifest = json!({"roles": [{"role_id": "marketer", "name": "Marketer", "description": "d",
                                         "tasks": [{"task_id": "audiences:*"}]}]});
        app.put_json(&app.platform("/roles"), &token, &manifest).await;

        let (status, ann) =
            app.put_json(&app.platform("/users/Ann@Example.com"), &token, &json!({"role_id": "marketer"})).await;
        assert_eq!(status, 200, "{ann}");
        assert_eq!(ann["email"], "ann@example.com");
        assert_eq!(ann["role_type"], "custom");
        assert_eq!(ann["role_name"], "Marketer");
        assert_eq!(ann["permissions"], json!(["user:core", "audiences:view", "audiences:edit", "audiences:*"]));

        let (status, bob) =
            app.put_json(&app.platform("/users/bob@example.com"), &token, &json!({"role_id": "compliance-role"})).await;
        assert_eq!(status, 200);
        assert_eq!(bob["role_type"], "standard");
        assert_eq!(bob["role_name"], "Compliance");
        assert!(bob["permissions"].as_array().unwrap().contains(&json!("privacy:*")));

        // Reassigning replaces the role.
        let (status, ann_again) =
            app.put_json(&app.platform("/users/ann@example.com"), &token, &json!({"role_id": "read-only-role"})).await;
        assert_eq!(status, 200);
        assert_eq!(ann_again["role_type"], "standard");
        assert_eq!(ann_again["created_on"], ann["created_on"]);

        let (status, list) = app.get(&app.platform("/users"), &token).await;
        assert_eq!(status, 200);
        let users = list["users"].as_array().unwrap();
        let summary: Vec<(&str, &str)> =
            users.iter().map(|u| (u["email"].as_str().unwrap(), u["role_id"].as_str().unwrap())).collect();
        assert_eq!(summary, [("ann@example.com", "read-only-role"), ("bob@example.com", "compliance-role")]);

        let response =
            app.http.delete(app.platform("/users/bob@example.com")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 204);
        let response =
            app.http.delete(app.platform("/users/bob@example.com")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(app.get(&app.platform("/users"), &token).await.1["users"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn unknown_roles_and_malformed_assignments_are_refused_and_change_nothing() {
    for app in default_apps().await {
        let token = app.token().await;
        let url = app.platform("/users/carol@example.com");
        let cases: Vec<(Value, &str)> = vec![
            (json!({"role_id": "no-such-role"}), "no custom or standard role `no-such-role`"),
            (json!({}), "role_id: is required"),
            (json!({"role_id": 42}), "role_id: must be a non-empty string"),
            (json!({"role_id": ""}), "role_id: must be a non-empty string"),
        ];
        for (body, expected) in cases {
            let (status, answer) = app.put_json(&url, &token, &body).await;
            assert_eq!(status, 400, "{body}");
            assert!(messages(&answer).contains(expected), "{answer}");
        }
        let (status, answer) = app.put_raw(&url, &token, "{role_id").await;
        assert_eq!(status, 400);
        assert!(messages(&answer).contains("Invalid JSON"));
        let (status, answer) =
            app.put_json(&app.platform("/users/not-an-email"), &token, &json!({"role_id": "admin-role"})).await;
        assert_eq!(status, 400);
        assert!(messages(&answer).contains("email"));
        assert_eq!(app.get(&app.platform("/users"), &token).await.1["users"], json!([]), "{}", app.backend);
    }
}
