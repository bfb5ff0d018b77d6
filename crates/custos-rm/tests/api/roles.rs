//! Every `/rm/v1` route requires its permission, for tokens and console
//! sessions alike (roles × routes), and a session's state-changing calls
//! need its CSRF token.

use custos_rm::domain::role::{Actor, Permission, Role};
use reqwest::Method;
use serde_json::{json, Value};

use super::{read, start, Service};

/// Every route but `/rm/v1/me` (any caller) and the callback receiver
/// (signatures), with the permission it requires.
const ROUTES: &[(&str, &str, Permission)] = &[
    ("GET", "/rm/v1/connections", Permission::ConnectionsRead),
    ("POST", "/rm/v1/connections", Permission::ConnectionsManage),
    ("DELETE", "/rm/v1/connections/999", Permission::ConnectionsManage),
    ("POST", "/rm/v1/connections/999/recheck", Permission::ConnectionsManage),
    ("GET", "/rm/v1/requests", Permission::RequestsRead),
    ("POST", "/rm/v1/requests", Permission::RequestsCreate),
    ("GET", "/rm/v1/requests.csv?from=2025-01-01&to=2025-01-31", Permission::RequestsRead),
    ("POST", "/rm/v1/requests/approve", Permission::RequestsManage),
    ("GET", "/rm/v1/requests/nope", Permission::RequestsRead),
    ("GET", "/rm/v1/requests/nope/results", Permission::RequestsManage),
    ("POST", "/rm/v1/requests/nope/approve", Permission::RequestsManage),
    ("POST", "/rm/v1/requests/nope/deny", Permission::RequestsManage),
    ("POST", "/rm/v1/requests/nope/extend", Permission::RequestsManage),
    ("POST", "/rm/v1/requests/nope/deliver", Permission::RequestsManage),
    ("GET", "/rm/v1/stats", Permission::RequestsRead),
    ("GET", "/rm/v1/outbox", Permission::RequestsManage),
    ("POST", "/rm/v1/outbox/999/sent", Permission::RequestsManage),
    ("GET", "/rm/v1/users", Permission::UsersManage),
    ("POST", "/rm/v1/users", Permission::UsersManage),
    ("PATCH", "/rm/v1/users/nobody@example.com", Permission::UsersManage),
    ("DELETE", "/rm/v1/users/nobody@example.com", Permission::UsersManage),
    ("POST", "/rm/v1/users/nobody@example.com/reset-password", Permission::UsersManage),
    ("POST", "/rm/v1/tokens", Permission::UsersManage),
    ("GET", "/rm/v1/audit", Permission::AuditRead),
];

const PASSWORD: &str = "correct horse battery staple";

/// The value of the first `csrf_token` field of a page.
fn csrf_of(html: &str) -> String {
    let field = html.find("name=\"csrf_token\"").expect("a form with a CSRF token");
    let value = &html[field..];
    let start = value.find("value=\"").unwrap() + 7;
    value[start..start + value[start..].find('"').unwrap()].to_owned()
}

/// A browser signed in to the console: its cookies and its CSRF token.
pub(super) struct Browser {
    pub(super) client: reqwest::Client,
    pub(super) csrf: String,
    base: String,
}

impl Browser {
    /// Invites `email` with `role`, sets their password through the link, and lands on `/`.
    pub(super) async fn sign_in(service: &Service, email: &str, role: Role) -> Browser {
        let (_, link) = service.manager.invite_user(email, role, None, &Actor::Cli).await.unwrap();
        let client =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let page = client.get(link.url.as_str()).send().await.unwrap().text().await.unwrap();
        let form =
            [("csrf_token", csrf_of(&page)), ("password", PASSWORD.into()), ("confirm_password", PASSWORD.into())];
        let set = client.post(link.url.as_str()).form(&form).send().await.unwrap();
        assert_eq!(set.status(), 303, "{}", set.text().await.unwrap());
        let home = client.get(format!("{}/", service.base)).send().await.unwrap();
        assert_eq!(home.status(), 200);
        let csrf = csrf_of(&home.text().await.unwrap());
        Browser { client, csrf, base: service.base.clone() }
    }

    /// A call with the session cookie; `csrf` adds the header.
    pub(super) async fn call(&self, method: Method, path: &str, csrf: bool, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if csrf {
            request = request.header("X-CSRF-Token", &self.csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request).await
    }
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// Checks one answer against what `role` may do on a route.
fn check(who: &str, role: Role, route: &(&str, &str, Permission), status: u16, body: &Value) {
    let (verb, path, permission) = route;
    if role.allows(*permission) {
        assert!(status != 401 && status != 403, "{who} ({role:?}) {verb} {path}: {status} {body}");
    } else {
        assert_eq!(status, 403, "{who} ({role:?}) {verb} {path}: {body}");
        assert_eq!(body["errors"][0]["code"], "forbidden");
        assert_eq!(body["errors"][0]["permission"], permission.as_str(), "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(permission.as_str()));
    }
}

#[tokio::test]
async fn every_route_requires_its_permission_of_a_token() {
    let service = start().await;
    for (verb, path, _) in ROUTES {
        let (status, _) = service.call(method(verb), path, None, Some(json!({}))).await;
        assert_eq!(status, 401, "{verb} {path} without credentials");
    }
    for role in Role::ALL {
        let token = service.token(role).await;
        let (status, me) = service.call(Method::GET, "/rm/v1/me", Some(&token), None).await;
        assert_eq!((status, &me["role"]), (200, &json!(role.as_str())));
        assert_eq!(me["actor"], format!("token {}", role.as_str()));
        for route in ROUTES {
            let (status, body) = service.call(method(route.0), route.1, Some(&token), Some(json!({}))).await;
            check("a token", role, route, status, &body);
        }
    }
}

#[tokio::test]
async fn every_route_requires_its_permission_of_a_session() {
    let service = start().await;
    // The init token's Super Admin makes the others; one stays Super Admin throughout.
    for (n, role) in Role::ALL.into_iter().enumerate() {
        let browser = Browser::sign_in(&service, &format!("person{n}@example.com"), role).await;
        let (status, me) = browser.call(Method::GET, "/rm/v1/me", false, None).await;
        assert_eq!((status, &me["actor"]), (200, &json!(format!("person{n}@example.com"))));
        for route in ROUTES {
            let (status, body) = browser.call(method(route.0), route.1, true, Some(json!({}))).await;
            check("a session", role, route, status, &body);
        }
    }
    // A role changed is in force at the next request; a user removed is signed out.
    let viewer = Browser::sign_in(&service, "changing@example.com", Role::Viewer).await;
    assert_eq!(viewer.call(Method::POST, "/rm/v1/requests/nope/approve", true, None).await.0, 403);
    service.manager.update_user("changing@example.com", Some(Role::RequestManager), None, &Actor::Cli).await.unwrap();
    assert_eq!(viewer.call(Method::POST, "/rm/v1/requests/nope/approve", true, None).await.0, 404);
    service.manager.remove_user("changing@example.com", &Actor::Cli).await.unwrap();
    assert_eq!(viewer.call(Method::GET, "/rm/v1/requests", false, None).await.0, 401);
    let (_, log) = service.get("/rm/v1/audit").await;
    let events: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(events.contains(&"signed in") && events.contains(&"removed changing@example.com"), "{events:?}");
}

#[tokio::test]
async fn a_sessions_changes_need_its_csrf_token_and_the_consoles_origin() {
    let service = start().await;
    let browser = Browser::sign_in(&service, "ann@example.com", Role::SuperAdmin).await;
    let approve = "/rm/v1/requests/nope/approve";
    let (status, body) = browser.call(Method::POST, approve, false, None).await;
    assert_eq!((status, &body["errors"][0]["permission"]), (403, &json!("csrf")), "{body}");
    assert_eq!(browser.call(Method::GET, "/rm/v1/requests", false, None).await.0, 200, "reads need none");
    let wrong = browser
        .client
        .post(format!("{}{approve}", service.base))
        .header("X-CSRF-Token", "not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let foreign = browser
        .client
        .post(format!("{}{approve}", service.base))
        .header("X-CSRF-Token", &browser.csrf)
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    assert_eq!(browser.call(Method::POST, approve, true, None).await.0, 404, "with the token: past the check");
    // A console form carries the token as a field.
    let form = browser
        .client
        .post(format!("{}{approve}", service.base))
        .form(&[("csrf_token", browser.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 404);
    // A token's calls need no CSRF token: no browser sends it by itself.
    assert_eq!(service.post(approve, json!({})).await.0, 404);
}
