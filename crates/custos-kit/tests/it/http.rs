//! The console's sign-in, sessions, CSRF and lockout over real HTTP: the
//! demo service on a random port, a client with a cookie jar, and time moved
//! by the demo's manual clock.

use reqwest::StatusCode;
use time::Duration;

use crate::client::{urlencode, Client};
use crate::demo::{start, Role};

const ANN: &str = "ann@example.com";
const PASSWORD: &str = "correct horse battery";

/// A demo with `ANN` (an admin) signed in through her invite link.
async fn signed_in_admin() -> (crate::demo::Demo, Client) {
    let (base, demo) = start("kit_session").await;
    let link = demo.invite(ANN, Role::Admin).await;
    let client = Client::new(&base);
    client.set_password(link.url.as_str(), PASSWORD).await;
    (demo, client)
}

#[tokio::test]
async fn an_invite_link_sets_a_password_refusing_bad_ones_at_the_field_and_signs_in() {
    let (base, demo) = start("kit_session").await;
    let link = demo.invite(ANN, Role::Viewer).await;
    assert!(link.url.as_str().starts_with(&format!("{base}/invite/")), "absolute under the public URL: {}", link.url);
    assert_eq!(link.expires_at, crate::demo::START + Duration::hours(72));
    let client = Client::new(&base);

    let form = client.get(link.url.as_str()).await;
    form.assert(StatusCode::OK)
        .assert_contains(r#"<label for="field-password">Password</label>"#)
        .assert_contains(r#"<label for="field-confirm_password">Confirm password</label>"#)
        .assert_contains(">Set password</button>")
        .assert_contains(ANN);
    let csrf = form.csrf();

    let short = client
        .post(link.url.as_str(), &[("csrf_token", &csrf), ("password", "too short"), ("confirm_password", "too short")])
        .await;
    short
        .assert(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains(r#"<p class="field-error" id="field-password-error"><span class="visually-hidden">Error: </span>Use at least 12 characters</p>"#)
        .assert_contains(r#"aria-invalid="true" aria-describedby="field-password-hint field-password-error""#);
    assert!(!short.body.contains("too short"), "a password is never written back");

    let mismatch = client
        .post(
            link.url.as_str(),
            &[("csrf_token", &csrf), ("password", PASSWORD), ("confirm_password", "correct horse batterY")],
        )
        .await;
    mismatch
        .assert(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains(r#"id="field-confirm_password-error"><span class="visually-hidden">Error: </span>The passwords do not match</p>"#);

    let done = client
        .post(link.url.as_str(), &[("csrf_token", &csrf), ("password", PASSWORD), ("confirm_password", PASSWORD)])
        .await;
    done.assert_redirect("/");
    let session_cookie = done.set_cookies().into_iter().find(|cookie| cookie.starts_with("kit_session=")).unwrap();
    assert!(
        session_cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
        "HttpOnly, Lax, whole site, not Secure over http: {session_cookie}"
    );
    let token = &session_cookie["kit_session=".len()..session_cookie.find(';').unwrap()];
    assert_eq!(token.len(), 43, "256 random bits in URL-safe base64");

    client
        .get("/")
        .await
        .assert(StatusCode::OK)
        .assert_contains(ANN)
        .assert_contains(">Sign out</button>")
        .assert_contains("Your password is set. You are signed in.");
    assert_eq!(demo.audit(), vec![format!("password set {ANN} invite"), format!("signed in {ANN}")]);
}

#[tokio::test]
async fn a_used_link_is_gone_and_an_unknown_one_not_found() {
    let (base, demo) = start("kit_session").await;
    let link = demo.invite(ANN, Role::Viewer).await;
    let client = Client::new(&base);
    let form = client.get(link.url.as_str()).await;
    let csrf = form.csrf();
    client.set_password(link.url.as_str(), PASSWORD).await;

    client.get(link.url.as_str()).await.assert(StatusCode::GONE).assert_contains("This link has already been used");
    let replay = client
        .post(
            link.url.as_str(),
            &[("csrf_token", &csrf), ("password", "another password"), ("confirm_password", "another password")],
        )
        .await;
    replay.assert(StatusCode::GONE);
    // The password is still the first one.
    let other = Client::new(&base);
    other.sign_in(ANN, PASSWORD, None).await.assert_redirect("/");

    client.get("/invite/not-a-token").await.assert(StatusCode::NOT_FOUND).assert_contains("This link is not valid");
    let unknown = format!("/invite/{}", custos_kit::secret::new_secret());
    client.get(&unknown).await.assert(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_invite_link_expires_after_72_hours() {
    let (base, demo) = start("kit_session").await;
    let link = demo.invite(ANN, Role::Viewer).await;
    let client = Client::new(&base);
    demo.advance(Duration::hours(72) - Duration::seconds(1));
    let form = client.get(link.url.as_str()).await;
    form.assert(StatusCode::OK);
    demo.advance(Duration::seconds(1));
    client.get(link.url.as_str()).await.assert(StatusCode::GONE).assert_contains("This link has expired");
    let late = client
        .post(
            link.url.as_str(),
            &[("csrf_token", &form.csrf()), ("password", PASSWORD), ("confirm_password", PASSWORD)],
        )
        .await;
    late.assert(StatusCode::GONE);
}

#[tokio::test]
async fn signing_out_ends_the_session_for_good() {
    let (demo, client) = signed_in_admin().await;
    let cookies_before = client.cookies();
    let answer = client.sign_out().await;
    answer.assert_redirect("/login");
    assert!(answer.set_cookies().contains(&"kit_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"));
    client.get("/").await.assert_redirect("/login");
    client.get("/login").await.assert(StatusCode::OK).assert_contains("You have signed out.");
    assert!(demo.audit().contains(&format!("signed out {ANN}")));

    // The old cookie, replayed, opens nothing: the session is gone from the store.
    let replayed = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = replayed.get(format!("{}/", client.base)).header("cookie", cookies_before).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()["location"], "/login");
}

#[tokio::test]
async fn signing_in_goes_on_to_the_page_asked_for() {
    let (base, demo) = start("kit_session").await;
    let link = demo.invite(ANN, Role::Admin).await;
    Client::new(&base).set_password(link.url.as_str(), PASSWORD).await;

    let client = Client::new(&base);
    client.get("/settings").await.assert_redirect("/login?next=%2Fsettings");
    client.get("/keys?tab=all").await.assert_redirect(&format!("/login?next={}", urlencode("/keys?tab=all")));
    let form = client.get("/login?next=%2Fsettings").await;
    form.assert(StatusCode::OK)
        .assert_contains(r#"<label for="field-email">Email</label>"#)
        .assert_contains(r#"<label for="field-password">Password</label>"#)
        .assert_contains(">Sign in</button>")
        .assert_contains(r#"action="/login?next=%2Fsettings""#);
    client.sign_in(ANN, PASSWORD, Some("/settings")).await.assert_redirect("/settings");
    client.get("/settings").await.assert(StatusCode::OK).assert_contains("<h1>Settings</h1>");
    // Signed in, the sign-in page sends one on.
    client.get("/login?next=%2Fkeys").await.assert_redirect("/keys");
    // Signing in again replaces the session: the previous one ends.
    let previous = client.cookies();
    let csrf = client.get("/keys").await.csrf();
    client.post("/login", &[("csrf_token", &csrf), ("email", ANN), ("password", PASSWORD)]).await.assert_redirect("/");
    assert_ne!(client.cookies(), previous);
    let replayed = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = replayed.get(format!("{base}/")).header("cookie", previous).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER, "the previous session is gone");

    // Emails are matched whatever their case; a next off the site goes home.
    let other = Client::new(&base);
    other.sign_in("  ANN@Example.com ", PASSWORD, Some("//evil.example/")).await.assert_redirect("/");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let (base, demo) = start("kit_session").await;
    let link = demo.invite(ANN, Role::Viewer).await;
    Client::new(&base).set_password(link.url.as_str(), PASSWORD).await;
    demo.invite("bo@example.com", Role::Viewer).await; // invited, no password yet

    let client = Client::new(&base);
    let wrong = client.sign_in(ANN, "not the password", None).await;
    let unknown = client.sign_in("nobody@example.com", "not the password", None).await;
    let unset = client.sign_in("bo@example.com", "not the password", None).await;
    for answer in [&wrong, &unknown, &unset] {
        answer
            .assert(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains(r#"<li id="form-error">Incorrect email or password</li>"#);
        assert!(!answer.body.contains("not the password"));
    }
    let normalize = |body: &str, email: &str| body.replace(email, "EMAIL");
    assert_eq!(
        normalize(&wrong.body, ANN),
        normalize(&unknown.body, "nobody@example.com"),
        "the pages differ only by the email typed"
    );
    assert!(client.get("/").await.location().starts_with("/login"), "not signed in");
    let audit = demo.audit();
    assert!(audit.contains(&format!("refused {ANN} WrongPassword")), "{audit:?}");
    assert!(audit.contains(&"refused nobody@example.com UnknownEmail".to_owned()), "{audit:?}");
    assert!(audit.contains(&"refused bo@example.com NoPassword".to_owned()), "{audit:?}");
}

#[tokio::test]
async fn five_failures_lock_an_address_for_fifteen_minutes() {
    let (base, demo) = start("kit_session").await;
    let link = demo.invite(ANN, Role::Viewer).await;
    Client::new(&base).set_password(link.url.as_str(), PASSWORD).await;
    let client = Client::new(&base);

    for attempt in 0..5 {
        demo.advance(Duration::minutes(2));
        let answer = client.sign_in(ANN, "wrong password", None).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "attempt {attempt}");
    }
    // The fifth failure was at +10 minutes: locked until +25, right password or not.
    let locked = client.sign_in(ANN, PASSWORD, None).await;
    locked.assert(StatusCode::TOO_MANY_REQUESTS).assert_contains("Too many failed sign-ins. Try again in 15 minutes.");
    assert_eq!(locked.headers["retry-after"], "900");
    demo.advance(Duration::minutes(14));
    let still = client.sign_in(ANN, PASSWORD, None).await;
    still.assert(StatusCode::TOO_MANY_REQUESTS).assert_contains("Try again in 1 minute.");
    assert_eq!(still.headers["retry-after"], "60");
    demo.advance(Duration::minutes(1));
    client.sign_in(ANN, PASSWORD, None).await.assert_redirect("/");
    assert!(demo.audit().contains(&format!("refused {ANN} LockedOut")));

    // An address with no account is locked alike, so a lockout tells nothing.
    let stranger = Client::new(&base);
    for _ in 0..5 {
        stranger.sign_in("nobody@example.com", "wrong password", None).await.assert(StatusCode::UNPROCESSABLE_ENTITY);
    }
    stranger.sign_in("nobody@example.com", "wrong password", None).await.assert(StatusCode::TOO_MANY_REQUESTS);
    // Other addresses are not affected.
    let bo_link = demo.invite("bo@example.com", Role::Viewer).await;
    Client::new(&base).set_password(bo_link.url.as_str(), PASSWORD).await;
    stranger.sign_in("bo@example.com", PASSWORD, None).await.assert_redirect("/");
}

#[tokio::test]
async fn a_session_ends_after_twelve_idle_hours_and_use_keeps_it_open() {
    let (demo, client) = signed_in_admin().await;
    demo.advance(Duration::hours(11));
    client.get("/").await.assert(StatusCode::OK);
    demo.advance(Duration::hours(11));
    client.get("/").await.assert(StatusCode::OK);
    demo.advance(Duration::hours(12));
    let ended = client.get("/keys").await;
    ended.assert_redirect("/login?next=%2Fkeys");
    assert!(ended.set_cookies().iter().any(|cookie| cookie.starts_with("kit_session=; Max-Age=0")));
    client
        .get("/login")
        .await
        .assert(StatusCode::OK)
        .assert_contains("Your session has ended. Sign in again to continue.");
    client.get("/").await.assert_redirect("/login");
}

/// A valid key form, with `token` as its CSRF token.
fn key_fields(token: &str) -> [(&str, &str); 3] {
    [("csrf_token", token), ("name", "checkout"), ("environment", "production")]
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_or_from_another_origin_are_refused() {
    let (base, demo) = start("kit_session").await;
    let link = demo.invite(ANN, Role::Admin).await;
    let client = Client::new(&base);
    client.set_password(link.url.as_str(), PASSWORD).await;
    let csrf = client.get("/keys").await.csrf();

    let missing = client.post("/keys", &[("name", "checkout"), ("environment", "production")]).await;
    missing.assert(StatusCode::FORBIDDEN).assert_contains("This form has expired");
    client.post("/keys", &key_fields("forged")).await.assert(StatusCode::FORBIDDEN);

    // Another person's token is no good either.
    let bo_link = demo.invite("bo@example.com", Role::Admin).await;
    let bo = Client::new(&base);
    bo.set_password(bo_link.url.as_str(), PASSWORD).await;
    let bos_token = bo.get("/keys").await.csrf();
    client.post("/keys", &key_fields(&bos_token)).await.assert(StatusCode::FORBIDDEN);

    let foreign = client.post_from("/keys", &key_fields(&csrf), "http://127.0.0.1:1").await;
    foreign.assert(StatusCode::FORBIDDEN).assert_contains("This form came from another site");
    client.post("/keys", &key_fields(&csrf)).await.assert(StatusCode::OK).assert_contains("Secret of the new key");

    // Signing out needs the token too: without it the session stays.
    client.post("/logout", &[]).await.assert(StatusCode::FORBIDDEN);
    client.get("/").await.assert(StatusCode::OK);
    // And signing in needs the form cookie's token.
    let stranger = Client::new(&base);
    stranger.post("/login", &[("email", ANN), ("password", PASSWORD)]).await.assert(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_input_gets_the_form_back_with_the_message_at_the_field() {
    let (_demo, client) = signed_in_admin().await;
    let csrf = client.get("/keys").await.csrf();
    let refused = client.post("/keys", &[("csrf_token", &csrf), ("name", " "), ("environment", "moon")]).await;
    refused
        .assert(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains(r#"<div class="error-summary" role="alert" aria-labelledby="error-summary-title">"#)
        .assert_contains(r##"<a href="#field-name">Enter a name for the key</a>"##)
        .assert_contains(
            r#"id="field-name-error"><span class="visually-hidden">Error: </span>Enter a name for the key</p>"#,
        )
        .assert_contains(r#"aria-describedby="field-name-hint field-name-error""#)
        .assert_contains(
            r#"id="field-environment-error"><span class="visually-hidden">Error: </span>Choose an environment</p>"#,
        );

    let stranger = Client::new(&client.base);
    let form = stranger.get("/login").await;
    let empty = stranger.post("/login", &[("csrf_token", &form.csrf()), ("email", ""), ("password", "")]).await;
    empty
        .assert(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Enter your email address")
        .assert_contains("Enter your password");
    let malformed = stranger.post("/login", &[("csrf_token", &form.csrf()), ("email", "ann"), ("password", "x")]).await;
    malformed.assert(StatusCode::UNPROCESSABLE_ENTITY).assert_contains("Enter an email address like name@example.com");

    client.post_raw("/keys", "application/json", r#"{"name": "x"}"#).await.assert(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn repeated_fields_arrive_as_a_list() {
    let (_demo, client) = signed_in_admin().await;
    let csrf = client.get("/").await.csrf();
    client.post("/requests/bulk", &[("csrf_token", &csrf), ("ids", "101"), ("ids", "103")]).await.assert_redirect("/");
    client.get("/").await.assert_contains(r#"<p class="flash flash-success">2 requests approved</p>"#);
    // The flash is shown once.
    let again = client.get("/").await;
    assert!(!again.body.contains("requests approved"));
}

#[tokio::test]
async fn a_page_the_role_does_not_allow_answers_403_naming_the_permission() {
    let (base, demo) = start("kit_session").await;
    let link = demo.invite(ANN, Role::Viewer).await;
    let client = Client::new(&base);
    client.set_password(link.url.as_str(), PASSWORD).await;
    client
        .get("/settings")
        .await
        .assert(StatusCode::FORBIDDEN)
        .assert_contains(r#"<code class="permission">settings:manage</code>"#)
        .assert_contains(r#"<nav class="sidebar" aria-label="Main">"#);
}

#[tokio::test]
async fn a_change_of_role_or_a_removal_takes_effect_on_the_next_request() {
    let (demo, client) = signed_in_admin().await;
    client.get("/settings").await.assert(StatusCode::OK);
    demo.set_role(ANN, Role::Viewer);
    client.get("/settings").await.assert(StatusCode::FORBIDDEN);
    demo.set_role(ANN, Role::Admin);
    client.get("/settings").await.assert(StatusCode::OK);
    demo.remove_user(ANN);
    client.get("/settings").await.assert_redirect("/login?next=%2Fsettings");
    // Removed, the right password no longer signs in.
    let answer = client.sign_in(ANN, PASSWORD, None).await;
    answer.assert(StatusCode::FORBIDDEN).assert_contains("This account has no access to Kit Demo now.");
    assert!(demo.audit().contains(&format!("refused {ANN} NoAccess")));
}

#[tokio::test]
async fn a_password_reset_replaces_the_password_and_ends_other_sessions() {
    let (demo, laptop) = signed_in_admin().await;
    let reset = demo.password_reset(ANN).await;
    let phone = Client::new(&laptop.base);
    phone.get(reset.url.as_str()).await.assert(StatusCode::OK).assert_contains("Reset your password");
    phone.set_password(reset.url.as_str(), "a brand new passphrase").await;
    phone.get("/").await.assert(StatusCode::OK);
    laptop.get("/").await.assert_redirect("/login");
    laptop.sign_in(ANN, PASSWORD, None).await.assert(StatusCode::UNPROCESSABLE_ENTITY);
    laptop.sign_in(ANN, "a brand new passphrase", None).await.assert_redirect("/");
    assert!(demo.audit().contains(&format!("password set {ANN} reset")));
}

#[tokio::test]
async fn two_services_on_one_host_keep_their_own_sessions() {
    // Browsers send cookies to every port of a host: the two consoles'
    // cookies must not collide.
    let (platform_base, platform) = start("custos_session").await;
    let (rm_base, rm) = start("custos_rm_session").await;
    let platform_link = platform.invite(ANN, Role::Admin).await;
    let rm_link = rm.invite(ANN, Role::Admin).await;
    let platform_tab = Client::new(&platform_base);
    let rm_tab = Client::sharing(&rm_base, platform_tab.jar());

    platform_tab.set_password(platform_link.url.as_str(), PASSWORD).await;
    rm_tab.get("/").await.assert_redirect("/login");
    rm_tab.set_password(rm_link.url.as_str(), PASSWORD).await;
    assert!(rm_tab.cookies().contains("custos_session="), "one jar holds both: {}", rm_tab.cookies());
    assert!(rm_tab.cookies().contains("custos_rm_session="));

    rm_tab.sign_out().await.assert_redirect("/login");
    platform_tab.get("/").await.assert(StatusCode::OK);
    rm_tab.get("/").await.assert_redirect("/login");
}

#[tokio::test]
async fn assets_are_served_under_content_hashed_paths_for_good() {
    let (_demo, client) = signed_in_admin().await;
    let page = client.get("/").await;
    for (start, end) in [(r#"<link rel="stylesheet" href=""#, ".css"), (r#"<script src=""#, ".js")] {
        let from = page.body.find(start).unwrap() + start.len();
        let path = &page.body[from..page.body[from..].find(end).unwrap() + from + end.len()];
        let asset = client.get(path).await;
        asset.assert(StatusCode::OK);
        assert_eq!(asset.headers["cache-control"], "public, max-age=31536000, immutable");
        assert!(!asset.body.is_empty());
    }
    client.get("/assets/console.css").await.assert(StatusCode::NOT_FOUND);
    assert_eq!(page.headers["cache-control"], "no-store", "pages are never cached");
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
}

#[tokio::test]
async fn unknown_pages_are_not_found_with_the_navigation_when_signed_in() {
    let (_demo, client) = signed_in_admin().await;
    client
        .get("/nowhere")
        .await
        .assert(StatusCode::NOT_FOUND)
        .assert_contains("Page not found")
        .assert_contains("<nav");
    let stranger = Client::new(&client.base);
    let answer = stranger.get("/nowhere").await;
    answer.assert(StatusCode::NOT_FOUND);
    assert!(!answer.body.contains("<nav"));
}
