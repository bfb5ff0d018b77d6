//! Form fields that are labelled, say what is wrong beside the field, and
//! point assistive technology at it (`aria-invalid`, `aria-describedby`),
//! plus the error summary at the top of a form and the CSRF field.
//!
//! ```text
//! let mut errors = FormErrors::new();
//! errors.add("email", "Enter an email address, like name@example.com");
//! html! {
//!     form method="post" action="/users" novalidate {
//!         (csrf_field(&signed_in.csrf))
//!         (error_summary(&errors))
//!         (Input::email("email", "Email").value(&form.email).required().errors(&errors))
//!         (Select::new("role", "Role", &ROLES).selected(&form.role).errors(&errors))
//!         (submit_button("Invite", ButtonStyle::Primary))
//!     }
//! }
//! ```
//! Forms carry `novalidate`, so that every message comes from the server,
//! in the same words and place with or without JavaScript.

use maud::{html, Markup, Render};

use super::components::{submit_button, ButtonStyle};
use super::csrf::{CsrfToken, CSRF_FIELD};

/// What is wrong with a submitted form: messages at fields, and possibly one
/// about the form as a whole (flagging fields without saying which is wrong,
/// as "Incorrect email or password" must).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    fields: Vec<(String, String)>,
    form: Option<String>,
    flagged: Vec<String>,
}

/// The id of the form-wide message, which flagged fields point at.
const FORM_ERROR_ID: &str = "form-error";

impl FormErrors {
    pub fn new() -> FormErrors {
        FormErrors::default()
    }

    /// A message at field `name`. The first message for a field is kept.
    pub fn add(&mut self, name: &str, message: impl Into<String>) {
        if self.get(name).is_none() {
            self.fields.push((name.to_owned(), message.into()));
        }
    }

    /// A message about the form as a whole; `flagged` fields are marked
    /// invalid and described by it.
    pub fn form(&mut self, message: impl Into<String>, flagged: &[&str]) {
        self.form = Some(message.into());
        self.flagged = flagged.iter().map(|name| (*name).to_owned()).collect();
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, message)| message.as_str())
    }

    pub fn form_message(&self) -> Option<&str> {
        self.form.as_deref()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }

    fn is_flagged(&self, name: &str) -> bool {
        self.flagged.iter().any(|flagged| flagged == name)
    }
}

fn field_id(name: &str) -> String {
    format!("field-{name}")
}

/// The hidden field that carries the form's CSRF token.
pub fn csrf_field(token: &CsrfToken) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token.as_str()); }
}

/// A `<form method="post">` with its CSRF field, validated by the server only.
pub fn post_form(action: &str, csrf: &CsrfToken, content: Markup) -> Markup {
    html! {
        form method="post" action=(action) novalidate {
            (csrf_field(csrf))
            (content)
        }
    }
}

/// The summary at the top of a form with errors: an alert listing every
/// message, each a link to its field. Nothing when there are none.
pub fn error_summary(errors: &FormErrors) -> Markup {
    html! {
        @if !errors.is_empty() {
            div class="error-summary" role="alert" aria-labelledby="error-summary-title" {
                h2 id="error-summary-title" { "There is a problem" }
                ul {
                    @if let Some(message) = errors.form_message() {
                        li id=(FORM_ERROR_ID) { (message) }
                    }
                    @for (name, message) in &errors.fields {
                        li { a href=(format!("#{}", field_id(name))) { (message) } }
                    }
                }
            }
        }
    }
}

/// The pieces every field shares: its id, hint, error and their wiring.
struct FieldFrame<'a> {
    id: String,
    hint: Option<&'a str>,
    error: Option<&'a str>,
    flagged: bool,
}

impl FieldFrame<'_> {
    fn new<'a>(name: &str, id: Option<&str>, hint: Option<&'a str>, errors: Option<&'a FormErrors>) -> FieldFrame<'a> {
        FieldFrame {
            id: id.map_or_else(|| field_id(name), str::to_owned),
            hint,
            error: errors.and_then(|errors| errors.get(name)),
            flagged: errors.is_some_and(|errors| errors.is_flagged(name)),
        }
    }

    fn invalid(&self) -> bool {
        self.error.is_some() || self.flagged
    }

    fn hint_id(&self) -> String {
        format!("{}-hint", self.id)
    }

    fn error_id(&self) -> String {
        format!("{}-error", self.id)
    }

    /// `aria-describedby`: the hint, then the error (or the form's message).
    fn described_by(&self) -> Option<String> {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(self.hint_id());
        }
        if self.error.is_some() {
            ids.push(self.error_id());
        } else if self.flagged {
            ids.push(FORM_ERROR_ID.to_owned());
        }
        (!ids.is_empty()).then(|| ids.join(" "))
    }

    fn class(&self) -> &'static str {
        if self.invalid() {
            "field field-invalid"
        } else {
            "field"
        }
    }

    fn hint_and_error(&self) -> Markup {
        html! {
            @if let Some(hint) = self.hint {
                p class="hint" id=(self.hint_id()) { (hint) }
            }
            @if let Some(error) = self.error {
                p class="field-error" id=(self.error_id()) {
                    span class="visually-hidden" { "Error: " }
                    (error)
                }
            }
        }
    }
}

/// A labelled `<input>`: text, email, password, URL, number or search.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    name: &'a str,
    label: &'a str,
    kind: &'static str,
    id: Option<&'a str>,
    value: Option<&'a str>,
    autocomplete: Option<&'a str>,
    hint: Option<&'a str>,
    required: bool,
    readonly: bool,
    errors: Option<&'a FormErrors>,
}

impl<'a> Input<'a> {
    fn new(kind: &'static str, name: &'a str, label: &'a str) -> Input<'a> {
        Input {
            name,
            label,
            kind,
            id: None,
            value: None,
            autocomplete: None,
            hint: None,
            required: false,
            readonly: false,
            errors: None,
        }
    }

    pub fn text(name: &'a str, label: &'a str) -> Input<'a> {
        Input::new("text", name, label)
    }

    /// An email address, filled in by the browser as a user name.
    pub fn email(name: &'a str, label: &'a str) -> Input<'a> {
        Input::new("email", name, label).autocomplete("email")
    }

    /// A password; its value is never written back into the page.
    pub fn password(name: &'a str, label: &'a str) -> Input<'a> {
        Input::new("password", name, label)
    }

    pub fn url(name: &'a str, label: &'a str) -> Input<'a> {
        Input::new("url", name, label)
    }

    pub fn number(name: &'a str, label: &'a str) -> Input<'a> {
        Input::new("number", name, label)
    }

    pub fn search(name: &'a str, label: &'a str) -> Input<'a> {
        Input::new("search", name, label)
    }

    /// Another id than `field-<name>` (two forms of one page sharing a name).
    pub fn id(self, id: &'a str) -> Input<'a> {
        Input { id: Some(id), ..self }
    }

    pub fn value(self, value: &'a str) -> Input<'a> {
        Input { value: Some(value), ..self }
    }

    pub fn autocomplete(self, autocomplete: &'a str) -> Input<'a> {
        Input { autocomplete: Some(autocomplete), ..self }
    }

    pub fn hint(self, hint: &'a str) -> Input<'a> {
        Input { hint: Some(hint), ..self }
    }

    pub fn required(self) -> Input<'a> {
        Input { required: true, ..self }
    }

    pub fn readonly(self) -> Input<'a> {
        Input { readonly: true, ..self }
    }

    pub fn errors(self, errors: &'a FormErrors) -> Input<'a> {
        Input { errors: Some(errors), ..self }
    }
}

impl Render for Input<'_> {
    fn render(&self) -> Markup {
        let frame = FieldFrame::new(self.name, self.id, self.hint, self.errors);
        let value = if self.kind == "password" { None } else { self.value };
        html! {
            div class=(frame.class()) {
                label for=(frame.id) { (self.label) }
                (frame.hint_and_error())
                input id=(frame.id) name=(self.name) type=(self.kind) value=[value]
                    autocomplete=[self.autocomplete] required[self.required] readonly[self.readonly]
                    aria-invalid=[frame.invalid().then_some("true")] aria-describedby=[frame.described_by()];
            }
        }
    }
}

/// A labelled `<textarea>`.
#[derive(Debug, Clone)]
pub struct TextArea<'a> {
    name: &'a str,
    label: &'a str,
    value: &'a str,
    hint: Option<&'a str>,
    required: bool,
    errors: Option<&'a FormErrors>,
}

impl<'a> TextArea<'a> {
    pub fn new(name: &'a str, label: &'a str) -> TextArea<'a> {
        TextArea { name, label, value: "", hint: None, required: false, errors: None }
    }

    pub fn value(self, value: &'a str) -> TextArea<'a> {
        TextArea { value, ..self }
    }

    pub fn hint(self, hint: &'a str) -> TextArea<'a> {
        TextArea { hint: Some(hint), ..self }
    }

    pub fn required(self) -> TextArea<'a> {
        TextArea { required: true, ..self }
    }

    pub fn errors(self, errors: &'a FormErrors) -> TextArea<'a> {
        TextArea { errors: Some(errors), ..self }
    }
}

impl Render for TextArea<'_> {
    fn render(&self) -> Markup {
        let frame = FieldFrame::new(self.name, None, self.hint, self.errors);
        html! {
            div class=(frame.class()) {
                label for=(frame.id) { (self.label) }
                (frame.hint_and_error())
                textarea id=(frame.id) name=(self.name) rows="4" required[self.required]
                    aria-invalid=[frame.invalid().then_some("true")] aria-describedby=[frame.described_by()] {
                    (self.value)
                }
            }
        }
    }
}

/// A labelled `<select>` of (value, label) options.
#[derive(Debug, Clone)]
pub struct Select<'a> {
    name: &'a str,
    label: &'a str,
    options: &'a [(&'a str, &'a str)],
    id: Option<&'a str>,
    selected: Option<&'a str>,
    hint: Option<&'a str>,
    errors: Option<&'a FormErrors>,
}

impl<'a> Select<'a> {
    pub fn new(name: &'a str, label: &'a str, options: &'a [(&'a str, &'a str)]) -> Select<'a> {
        Select { name, label, options, id: None, selected: None, hint: None, errors: None }
    }

    pub fn id(self, id: &'a str) -> Select<'a> {
        Select { id: Some(id), ..self }
    }

    pub fn selected(self, value: &'a str) -> Select<'a> {
        Select { selected: Some(value), ..self }
    }

    pub fn hint(self, hint: &'a str) -> Select<'a> {
        Select { hint: Some(hint), ..self }
    }

    pub fn errors(self, errors: &'a FormErrors) -> Select<'a> {
        Select { errors: Some(errors), ..self }
    }
}

impl Render for Select<'_> {
    fn render(&self) -> Markup {
        let frame = FieldFrame::new(self.name, self.id, self.hint, self.errors);
        html! {
            div class=(frame.class()) {
                label for=(frame.id) { (self.label) }
                (frame.hint_and_error())
                select id=(frame.id) name=(self.name)
                    aria-invalid=[frame.invalid().then_some("true")] aria-describedby=[frame.described_by()] {
                    @for (value, label) in self.options {
                        option value=(value) selected[self.selected == Some(*value)] { (label) }
                    }
                }
            }
        }
    }
}

/// A labelled checkbox, sending `value` when checked.
#[derive(Debug, Clone)]
pub struct Checkbox<'a> {
    name: &'a str,
    label: &'a str,
    value: &'a str,
    id: Option<&'a str>,
    checked: bool,
    hint: Option<&'a str>,
    errors: Option<&'a FormErrors>,
}

impl<'a> Checkbox<'a> {
    pub fn new(name: &'a str, label: &'a str) -> Checkbox<'a> {
        Checkbox { name, label, value: "true", id: None, checked: false, hint: None, errors: None }
    }

    pub fn value(self, value: &'a str) -> Checkbox<'a> {
        Checkbox { value, ..self }
    }

    pub fn id(self, id: &'a str) -> Checkbox<'a> {
        Checkbox { id: Some(id), ..self }
    }

    pub fn checked(self, checked: bool) -> Checkbox<'a> {
        Checkbox { checked, ..self }
    }

    pub fn hint(self, hint: &'a str) -> Checkbox<'a> {
        Checkbox { hint: Some(hint), ..self }
    }

    pub fn errors(self, errors: &'a FormErrors) -> Checkbox<'a> {
        Checkbox { errors: Some(errors), ..self }
    }
}

impl Render for Checkbox<'_> {
    fn render(&self) -> Markup {
        let frame = FieldFrame::new(self.name, self.id, self.hint, self.errors);
        let class = if frame.invalid() { "field field-checkbox field-invalid" } else { "field field-checkbox" };
        html! {
            div class=(class) {
                input id=(frame.id) type="checkbox" name=(self.name) value=(self.value) checked[self.checked]
                    aria-invalid=[frame.invalid().then_some("true")] aria-describedby=[frame.described_by()];
                label for=(frame.id) { (self.label) }
                (frame.hint_and_error())
            }
        }
    }
}

/// A form's buttons, in a row: the first is the main action.
pub fn actions(buttons: Markup) -> Markup {
    html! { div class="form-actions" { (buttons) } }
}

/// The usual end of a form: one primary submit button.
pub fn submit_row(label: &str) -> Markup {
    actions(submit_button(label, ButtonStyle::Primary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_labelled_and_carries_its_value() {
        let text = Input::email("email", "Email").value("ann@example.com").required().render().into_string();
        assert_eq!(
            text,
            r#"<div class="field"><label for="field-email">Email</label><input id="field-email" name="email" type="email" value="ann@example.com" autocomplete="email" required></div>"#
        );
    }

    #[test]
    fn an_invalid_field_shows_its_message_and_points_at_it() {
        let mut errors = FormErrors::new();
        errors.add("password", "Use at least 12 characters");
        errors.add("password", "a second message is ignored");
        let text =
            Input::password("password", "Password").value("secret").hint("12 characters or more").errors(&errors);
        let text = text.render().into_string();
        assert!(text.contains(r#"<div class="field field-invalid">"#), "{text}");
        assert!(text.contains(r#"<p class="field-error" id="field-password-error"><span class="visually-hidden">Error: </span>Use at least 12 characters</p>"#), "{text}");
        assert!(
            text.contains(r#"aria-invalid="true" aria-describedby="field-password-hint field-password-error""#),
            "{text}"
        );
        assert!(!text.contains("secret"), "a password is never written back: {text}");
        assert!(!text.contains("second message"));
    }

    #[test]
    fn a_form_wide_message_flags_fields_without_naming_one() {
        let mut errors = FormErrors::new();
        errors.form("Incorrect email or password", &["email", "password"]);
        let email = Input::email("email", "Email").errors(&errors).render().into_string();
        assert!(email.contains(r#"aria-invalid="true" aria-describedby="form-error""#), "{email}");
        assert!(!email.contains("field-error"), "the message is not at the field: {email}");
        let summary = error_summary(&errors).into_string();
        assert!(summary.contains(r#"role="alert""#));
        assert!(summary.contains(r#"<li id="form-error">Incorrect email or password</li>"#), "{summary}");
    }

    #[test]
    fn the_summary_links_to_each_field_and_is_absent_without_errors() {
        assert_eq!(error_summary(&FormErrors::new()).into_string(), "");
        let mut errors = FormErrors::new();
        errors.add("confirm_password", "The passwords do not match");
        let summary = error_summary(&errors).into_string();
        assert!(summary.contains(r##"<a href="#field-confirm_password">The passwords do not match</a>"##), "{summary}");
        assert!(summary.contains("There is a problem"));
    }

    #[test]
    fn selects_and_checkboxes_keep_their_state() {
        let options = [("viewer", "Viewer"), ("admin", "Super Admin")];
        let select = Select::new("role", "Role", &options).selected("admin").render().into_string();
        assert!(select.contains(r#"<label for="field-role">Role</label>"#));
        assert!(select.contains(r#"<option value="admin" selected>Super Admin</option>"#), "{select}");
        assert!(select.contains(r#"<option value="viewer">Viewer</option>"#));
        let checkbox = Checkbox::new("notify", "Email me").checked(true).render().into_string();
        assert!(
            checkbox.contains(r#"<input id="field-notify" type="checkbox" name="notify" value="true" checked>"#),
            "{checkbox}"
        );
        assert!(checkbox.contains(r#"<label for="field-notify">Email me</label>"#));
    }

    #[test]
    fn a_post_form_carries_its_csrf_token() {
        let token = CsrfToken::derive("secret");
        let text = post_form("/users", &token, html! {}).into_string();
        assert_eq!(
            text,
            format!(
                r#"<form method="post" action="/users" novalidate><input type="hidden" name="csrf_token" value="{}"></form>"#,
                token.as_str()
            )
        );
    }
}
