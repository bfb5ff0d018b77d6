//! The pieces pages are made of besides forms: buttons, tables, badges
//! (deadlines among them), the "shown once" secret box, and the hooks the
//! small script enhances (copy, confirm, select all).
//!
//! Every enhancement is optional: without JavaScript a copy button stays
//! hidden (the secret can be selected by hand), a destructive button submits
//! without asking, and each row's checkbox is ticked one by one.

use maud::{html, Markup};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonStyle {
    /// The page's main action.
    Primary,
    Secondary,
    /// Deletes or revokes something.
    Danger,
}

impl ButtonStyle {
    fn class(self) -> &'static str {
        match self {
            ButtonStyle::Primary => "button button-primary",
            ButtonStyle::Secondary => "button button-secondary",
            ButtonStyle::Danger => "button button-danger",
        }
    }
}

/// A submit button.
pub fn submit_button(label: &str, style: ButtonStyle) -> Markup {
    html! { button type="submit" class=(style.class()) { (label) } }
}

/// A submit button that sends `name=value` (several actions in one form).
pub fn action_button(label: &str, style: ButtonStyle, name: &str, value: &str) -> Markup {
    html! { button type="submit" class=(style.class()) name=(name) value=(value) { (label) } }
}

/// A destructive submit button; with JavaScript, `question` is asked first.
pub fn danger_button(label: &str, question: &str) -> Markup {
    html! { button type="submit" class=(ButtonStyle::Danger.class()) data-confirm=(question) { (label) } }
}

/// A link that looks like a button (to a page with a form, say).
pub fn link_button(href: &str, label: &str, style: ButtonStyle) -> Markup {
    html! { a class=(style.class()) href=(href) { (label) } }
}

/// A data table: a caption (visible), column headings, rows of cells; the
/// `empty` sentence instead when there are no rows. It scrolls sideways
/// within itself on narrow screens, and can then be scrolled by keyboard.
pub fn table(caption: &str, headings: &[&str], rows: &[Vec<Markup>], empty: &str) -> Markup {
    html! {
        @if rows.is_empty() {
            p class="empty" { (empty) }
        } @else {
            div class="table-wrap" role="region" aria-label=(caption) tabindex="0" {
                table class="data" {
                    caption { (caption) }
                    thead { tr { @for heading in headings { th scope="col" { (heading) } } } }
                    tbody {
                        @for row in rows {
                            tr { @for cell in row { td { (cell) } } }
                        }
                    }
                }
            }
        }
    }
}

/// A checkbox that selects every `name` checkbox of its form (shown only
/// with JavaScript, which it needs).
pub fn select_all(name: &str, label: &str) -> Markup {
    html! {
        label class="select-all" hidden data-select-all=(name) {
            input type="checkbox";
            " " (label)
        }
    }
}

/// A row's checkbox for bulk actions, labelled for screen readers (`label`
/// such as "Select request 42").
pub fn row_checkbox(name: &str, value: &str, label: &str) -> Markup {
    html! { input type="checkbox" name=(name) value=(value) aria-label=(label); }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Neutral,
    Info,
    Success,
    Warning,
    Danger,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Neutral => "badge badge-neutral",
            Tone::Info => "badge badge-info",
            Tone::Success => "badge badge-success",
            Tone::Warning => "badge badge-warning",
            Tone::Danger => "badge badge-danger",
        }
    }
}

/// A short status in a coloured pill. The text alone must say it all:
/// colour only repeats it.
pub fn badge(text: &str, tone: Tone) -> Markup {
    html! { span class=(tone.class()) { (text) } }
}

/// How much time a deadline leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaysLeft {
    /// Whole days left (0: less than a day); `urgent` under a quarter of the time frame.
    Left {
        days: i64,
        urgent: bool,
    },
    Overdue,
}

impl DaysLeft {
    /// At `now`, for a deadline `due` set `time_frame` after its start.
    pub fn at(now: OffsetDateTime, due: OffsetDateTime, time_frame: Duration) -> DaysLeft {
        let left = due - now;
        if left <= Duration::ZERO {
            return DaysLeft::Overdue;
        }
        DaysLeft::Left { days: left.whole_days(), urgent: left * 4 < time_frame }
    }

    pub fn text(self) -> String {
        match self {
            DaysLeft::Overdue => "Overdue".to_owned(),
            DaysLeft::Left { days: 0, .. } => "Due today".to_owned(),
            DaysLeft::Left { days: 1, .. } => "1 day left".to_owned(),
            DaysLeft::Left { days, .. } => format!("{days} days left"),
        }
    }

    pub fn tone(self) -> Tone {
        match self {
            DaysLeft::Overdue => Tone::Danger,
            DaysLeft::Left { urgent: true, .. } => Tone::Warning,
            DaysLeft::Left { urgent: false, .. } => Tone::Neutral,
        }
    }
}

/// "12 days left", amber under a quarter of the time frame, "Overdue" in red.
pub fn deadline_badge(now: OffsetDateTime, due: OffsetDateTime, time_frame: Duration) -> Markup {
    let left = DaysLeft::at(now, due, time_frame);
    badge(&left.text(), left.tone())
}

/// A secret shown once (a new API secret, an invite link): labelled, in a
/// read-only field to select, with a copy button and the warning that it
/// will not be shown again. `id` must be unique on the page.
pub fn secret_box(id: &str, label: &str, secret: &str) -> Markup {
    let field = format!("{id}-value");
    let status = format!("{id}-status");
    html! {
        section class="secret-box" aria-labelledby=(format!("{id}-title")) {
            h2 id=(format!("{id}-title")) { (label) }
            p { "Shown once: copy it now. It cannot be shown again." }
            div class="secret-row" {
                label class="visually-hidden" for=(field) { (label) }
                input id=(field) class="secret-value" type="text" value=(secret) readonly spellcheck="false" autocomplete="off";
                button type="button" class="button button-secondary" hidden data-copy=(field) data-copy-status=(status) { "Copy" }
            }
            p class="copy-status" id=(status) role="status" {}
        }
    }
}

/// A list of name–value pairs (a request's details).
pub fn details(pairs: &[(&str, Markup)]) -> Markup {
    html! {
        dl class="details" {
            @for (name, value) in pairs {
                div { dt { (name) } dd { (value) } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2025-03-01 12:00 UTC);

    #[test]
    fn days_left_count_whole_days_and_turn_urgent_under_a_quarter() {
        let month = Duration::days(30);
        assert_eq!(DaysLeft::at(NOW, NOW + Duration::days(12), month), DaysLeft::Left { days: 12, urgent: false });
        assert_eq!(DaysLeft::at(NOW, NOW + Duration::days(12), month).text(), "12 days left");
        assert_eq!(DaysLeft::at(NOW, NOW + Duration::days(7), month), DaysLeft::Left { days: 7, urgent: true });
        assert_eq!(DaysLeft::at(NOW, NOW + Duration::hours(36), month).text(), "1 day left");
        assert_eq!(DaysLeft::at(NOW, NOW + Duration::hours(3), month).text(), "Due today");
        assert_eq!(DaysLeft::at(NOW, NOW, month), DaysLeft::Overdue);
        assert_eq!(DaysLeft::at(NOW, NOW - Duration::days(2), month).text(), "Overdue");
    }

    #[test]
    fn overdue_is_red_and_urgent_is_amber() {
        let overdue = deadline_badge(NOW, NOW - Duration::days(1), Duration::days(30)).into_string();
        assert_eq!(overdue, r#"<span class="badge badge-danger">Overdue</span>"#);
        let urgent = deadline_badge(NOW, NOW + Duration::days(2), Duration::days(30)).into_string();
        assert_eq!(urgent, r#"<span class="badge badge-warning">2 days left</span>"#);
        let calm = deadline_badge(NOW, NOW + Duration::days(20), Duration::days(30)).into_string();
        assert_eq!(calm, r#"<span class="badge badge-neutral">20 days left</span>"#);
    }

    #[test]
    fn a_table_has_a_caption_and_column_headers_or_says_it_is_empty() {
        let rows = vec![vec![html! { "ann@example.com" }, badge("Admin", Tone::Info)]];
        let text = table("Users", &["Email", "Role"], &rows, "No users yet.").into_string();
        assert!(text.contains("<caption>Users</caption>"));
        assert!(text.contains(r#"<th scope="col">Email</th>"#));
        assert!(text.contains(r#"<td>ann@example.com</td>"#));
        assert!(text.contains(r#"role="region" aria-label="Users" tabindex="0""#));
        assert_eq!(
            table("Users", &["Email"], &[], "No users yet.").into_string(),
            r#"<p class="empty">No users yet.</p>"#
        );
    }

    #[test]
    fn a_secret_box_is_labelled_and_copyable() {
        let text = secret_box("new-key", "Client secret", "s3cr3t").into_string();
        assert!(text.contains(r#"<label class="visually-hidden" for="new-key-value">Client secret</label>"#), "{text}");
        assert!(text.contains(r#"value="s3cr3t" readonly"#));
        assert!(text.contains(r#"data-copy="new-key-value""#));
        assert!(text.contains("Shown once"));
    }

    #[test]
    fn destructive_buttons_ask_first() {
        assert_eq!(
            danger_button("Remove user", "Remove ann@example.com?").into_string(),
            r#"<button type="submit" class="button button-danger" data-confirm="Remove ann@example.com?">Remove user</button>"#
        );
    }
}
