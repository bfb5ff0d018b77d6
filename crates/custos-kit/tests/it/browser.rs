//! The demo console in headless Chromium, driven by role and label, every
//! page checked with axe-core and photographed at 1280 and 390 px
//! (`clients/console/kit_demo.mjs`). Skipped, saying why, when the browser
//! tools are not installed, unless `CUSTOS_REAL_CLIENTS=required`.

use custos_kit::testing::browser::BrowserScripts;

use crate::demo::{start, Role};

const ADMIN: &str = "ada@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_console_works_in_a_browser_by_keyboard_and_label_without_serious_accessibility_violations() {
    let Some(browser) = BrowserScripts::find() else {
        return;
    };
    let (base, demo) = start("kit_session").await;
    let admin = demo.invite(ADMIN, Role::Admin).await;
    let viewer = demo.invite("vic@example.com", Role::Viewer).await;
    let args = [base.clone(), ADMIN.to_owned(), admin.url.to_string(), viewer.url.to_string()];
    let report = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        browser.run("console/kit_demo.mjs", &args)
    })
    .await
    .unwrap_or_else(|failed| std::panic::resume_unwind(failed.into_panic()));

    let pages = report["pages"].as_array().unwrap();
    let visited: Vec<&str> = pages.iter().map(|page| page["name"].as_str().unwrap()).collect();
    assert_eq!(
        visited,
        [
            "invite",
            "invite-errors",
            "requests",
            "keys-errors",
            "keys-secret",
            "settings",
            "sign-in",
            "sign-in-error",
            "forbidden",
            "not-found",
            "link-used"
        ],
        "{report:#}"
    );
    for page in pages {
        let name = &page["name"];
        for finding in page["other_findings"].as_array().unwrap() {
            eprintln!("{name}: axe also found ({}): {} {}", finding["impact"], finding["id"], finding["help"]);
        }
        assert_eq!(page["violations"], serde_json::json!([]), "{name}: serious or critical axe violations");
        assert_eq!(page["overflows_at_390"], false, "{name} scrolls sideways at 390 px");
        assert_eq!(page["screenshots"].as_array().unwrap().len(), 2, "{name}");
    }
    let status_of = |name: &str| pages.iter().find(|page| page["name"] == name).unwrap()["status"].clone();
    for (name, status) in [
        ("invite", 200),
        ("invite-errors", 422),
        ("requests", 200),
        ("keys-errors", 422),
        ("sign-in-error", 422),
        ("forbidden", 403),
        ("not-found", 404),
        ("link-used", 410),
    ] {
        assert_eq!(status_of(name), status, "{name}: {report:#}");
    }
    let audit = demo.audit();
    assert!(audit.contains(&format!("refused {ADMIN} WrongPassword")), "{audit:?}");
    assert_eq!(audit.iter().filter(|entry| **entry == format!("signed in {ADMIN}")).count(), 2, "{audit:?}");
}
