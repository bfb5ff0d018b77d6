//! Data subject requests: what is asked, under which law, by whom, and by when.

use time::{Duration, OffsetDateTime};

pub use super::workflow::RequestStatus;
use super::{required_text, FieldError};

/// What the data subject asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A copy of everything held about them.
    Access,
    /// Erasure of their whole record.
    Deletion,
    /// CCPA: do not sell or share their personal information.
    OptOut,
}

impl RequestKind {
    pub const ALL: [RequestKind; 3] = [RequestKind::Access, RequestKind::Deletion, RequestKind::OptOut];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Access => "access",
            RequestKind::Deletion => "deletion",
            RequestKind::OptOut => "opt_out",
        }
    }

    pub fn parse(text: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// The law the request is made under; it sets the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Regulation {
    Gdpr,
    Ccpa,
}

impl Regulation {
    pub const ALL: [Regulation; 2] = [Regulation::Gdpr, Regulation::Ccpa];

    pub fn as_str(self) -> &'static str {
        match self {
            Regulation::Gdpr => "gdpr",
            Regulation::Ccpa => "ccpa",
        }
    }

    pub fn parse(text: &str) -> Option<Regulation> {
        Regulation::ALL.into_iter().find(|regulation| regulation.as_str() == text)
    }

    /// The date by which a request received at `received_at` must be answered:
    /// one calendar month under the GDPR (Art. 12(3)), 45 days under the CCPA
    /// (§1798.130). A month from the 31st ends on the last day of a shorter month.
    pub fn deadline(self, received_at: OffsetDateTime) -> OffsetDateTime {
        match self {
            Regulation::Gdpr => add_months(received_at, 1),
            Regulation::Ccpa => received_at + Duration::days(45),
        }
    }
}

/// `at` plus `months` calendar months; a day past the end of the shorter
/// month is clamped to its last day (January 31st + 1 month = February 28th).
pub(crate) fn add_months(at: OffsetDateTime, months: u8) -> OffsetDateTime {
    let (mut year, mut month) = (at.year(), at.month());
    for _ in 0..months {
        if month == time::Month::December {
            year += 1;
        }
        month = month.next();
    }
    let day = at.day().min(month.length(year));
    let date = time::Date::from_calendar_date(year, month, day).expect("a day clamped to its month is valid");
    at.replace_date(date)
}

/// Who the request is about: the identities the data subject gave.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Subject {
    pub email: Option<String>,
    pub customer_id: Option<String>,
    pub phone: Option<String>,
}

// Identities are personal data: they never reach a log line through Debug.
impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Subject({})", self.kinds().join(","))
    }
}

impl Subject {
    /// The kinds of identity given, never their values: what an audit trail may hold.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if self.email.is_some() {
            kinds.push("email");
        }
        if self.customer_id.is_some() {
            kinds.push("customer_id");
        }
        if self.phone.is_some() {
            kinds.push("phone");
        }
        kinds
    }

    /// Every identity value, to scrub them from any text that leaves the request.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        [&self.email, &self.customer_id, &self.phone].into_iter().flatten().map(String::as_str)
    }

    /// `text` with every identity of the subject replaced, for messages from processors.
    pub fn redact(&self, text: &str) -> String {
        let mut redacted = text.to_owned();
        for value in self.values() {
            redacted = replace_ignoring_case(&redacted, value, "[redacted]");
        }
        redacted
    }
}

fn replace_ignoring_case(text: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return text.to_owned();
    }
    let lower_text = text.to_lowercase();
    let lower_needle = needle.to_lowercase();
    // Lowercasing may change byte lengths outside ASCII; then replace exact matches only.
    if lower_text.len() != text.len() || lower_needle.len() != needle.len() {
        return text.replace(needle, with);
    }
    let mut result = String::with_capacity(text.len());
    let mut rest = 0;
    for (start, _) in lower_text.match_indices(&lower_needle) {
        if start < rest {
            continue;
        }
        result.push_str(&text[rest..start]);
        result.push_str(with);
        rest = start + needle.len();
    }
    result.push_str(&text[rest..]);
    result
}

/// A request as a client sent it, every field optional until validated.
#[derive(Debug, Default)]
pub struct RequestDraft {
    pub kind: Option<String>,
    pub regulation: Option<String>,
    pub email: Option<String>,
    pub customer_id: Option<String>,
    pub phone: Option<String>,
    /// When the data subject made the request, if earlier than its entry here.
    pub received_at: Option<OffsetDateTime>,
    /// Whether the subject must confirm by email; `None`: the default for its regulation.
    pub verify: Option<bool>,
}

/// How requests are taken in: `--verify` and `--require-approval`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intake {
    /// Regulations whose requests are verified unless a request says otherwise.
    pub verify: Vec<Regulation>,
    /// Types of request a Request Manager must approve.
    pub require_approval: Vec<RequestKind>,
}

/// A valid request, ready to be stored.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub kind: RequestKind,
    pub regulation: Regulation,
    pub subject: Subject,
    pub received_at: OffsetDateTime,
    pub deadline: OffsetDateTime,
    /// The subject must confirm through an emailed link first.
    pub verify: bool,
    /// A Request Manager must approve it before it runs.
    pub needs_approval: bool,
}

const MAX_IDENTITY_CHARS: usize = 256;

/// Checks a draft, reporting every problem at once, each naming its field.
pub fn validate_request(
    draft: RequestDraft,
    now: OffsetDateTime,
    intake: &Intake,
) -> Result<RequestSpec, Vec<FieldError>> {
    let mut problems = Vec::new();
    let kind = match draft.kind.as_deref() {
        None => {
            problems.push(FieldError::new("type", "is required: access, deletion or opt_out"));
            None
        }
        Some(text) => RequestKind::parse(text).or_else(|| {
            problems.push(FieldError::new("type", format!("must be access, deletion or opt_out, not `{text}`")));
            None
        }),
    };
    let regulation = match draft.regulation.as_deref() {
        None => {
            problems.push(FieldError::new("regulation", "is required: gdpr or ccpa"));
            None
        }
        Some(text) => Regulation::parse(text).or_else(|| {
            problems.push(FieldError::new("regulation", format!("must be gdpr or ccpa, not `{text}`")));
            None
        }),
    };
    if kind == Some(RequestKind::OptOut) && regulation == Some(Regulation::Gdpr) {
        problems.push(FieldError::new(
            "type",
            "opt_out is the CCPA's right to opt out of sale or sharing: use regulation ccpa",
        ));
    }
    let subject = validate_subject(draft.email, draft.customer_id, draft.phone, &mut problems);
    let received_at = draft.received_at.unwrap_or(now);
    if received_at > now + Duration::minutes(5) {
        problems.push(FieldError::new("received_at", "must not be in the future"));
    }
    let verify = draft.verify.unwrap_or_else(|| regulation.is_some_and(|r| intake.verify.contains(&r)));
    if verify && subject.email.is_none() && !subject.kinds().is_empty() {
        problems.push(FieldError::new("verify", "needs subject.email: the verification link is sent there"));
    }
    match (kind, regulation, problems.is_empty()) {
        (Some(kind), Some(regulation), true) => Ok(RequestSpec {
            kind,
            regulation,
            subject,
            received_at,
            deadline: regulation.deadline(received_at),
            verify,
            needs_approval: intake.require_approval.contains(&kind),
        }),
        _ => Err(problems),
    }
}

fn validate_subject(
    email: Option<String>,
    customer_id: Option<String>,
    phone: Option<String>,
    problems: &mut Vec<FieldError>,
) -> Subject {
    let before = problems.len();
    let email = email.and_then(|e| required_text(Some(e), "subject.email", MAX_IDENTITY_CHARS, problems));
    if let Some(email) = &email {
        let valid = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !email.contains(char::is_whitespace)
        });
        if !valid {
            problems.push(FieldError::new("subject.email", "must be an email address (local@domain)"));
        }
    }
    let customer_id =
        customer_id.and_then(|c| required_text(Some(c), "subject.customer_id", MAX_IDENTITY_CHARS, problems));
    let phone = phone.and_then(|p| required_text(Some(p), "subject.phone", MAX_IDENTITY_CHARS, problems));
    if let Some(phone) = &phone {
        let allowed = phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if !allowed || digits < 5 {
            problems.push(FieldError::new(
                "subject.phone",
                "must be a phone number: digits, with optional + ( ) - . and spaces, at least 5 digits",
            ));
        }
    }
    let subject = Subject { email, customer_id, phone };
    if problems.len() == before && subject.kinds().is_empty() {
        problems.push(FieldError::new("subject", "needs at least one of email, customer_id or phone"));
    }
    subject
}

/// Whether a request missed its deadline: still open after it, or finished late.
pub fn is_overdue(deadline: OffsetDateTime, finished_at: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    finished_at.unwrap_or(now) > deadline
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn draft(kind: &str, regulation: &str) -> RequestDraft {
        RequestDraft {
            kind: Some(kind.into()),
            regulation: Some(regulation.into()),
            email: Some("ann@example.com".into()),
            ..RequestDraft::default()
        }
    }

    #[test]
    fn gdpr_gives_one_calendar_month_and_ccpa_45_days() {
        let received = datetime!(2025-01-15 10:00 UTC);
        assert_eq!(Regulation::Gdpr.deadline(received), datetime!(2025-02-15 10:00 UTC));
        assert_eq!(Regulation::Ccpa.deadline(received), datetime!(2025-03-01 10:00 UTC));
        // A month from the 31st ends with the shorter month; December rolls into January.
        assert_eq!(Regulation::Gdpr.deadline(datetime!(2025-01-31 09:00 UTC)), datetime!(2025-02-28 09:00 UTC));
        assert_eq!(Regulation::Gdpr.deadline(datetime!(2024-01-31 09:00 UTC)), datetime!(2024-02-29 09:00 UTC));
        assert_eq!(Regulation::Gdpr.deadline(datetime!(2024-12-20 00:00 UTC)), datetime!(2025-01-20 00:00 UTC));
    }

    #[test]
    fn a_valid_draft_gets_its_deadline_from_its_receipt() {
        let now = datetime!(2025-06-01 12:00 UTC);
        let spec = validate_request(draft("deletion", "gdpr"), now, &Intake::default()).unwrap();
        assert_eq!((spec.kind, spec.regulation), (RequestKind::Deletion, Regulation::Gdpr));
        assert_eq!(spec.deadline, datetime!(2025-07-01 12:00 UTC));
        let earlier = RequestDraft { received_at: Some(datetime!(2025-05-01 00:00 UTC)), ..draft("access", "ccpa") };
        assert_eq!(
            validate_request(earlier, now, &Intake::default()).unwrap().deadline,
            datetime!(2025-06-15 00:00 UTC)
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let now = datetime!(2025-06-01 12:00 UTC);
        let draft = RequestDraft {
            kind: Some("erase".into()),
            regulation: None,
            email: Some("not-an-email".into()),
            phone: Some("call me".into()),
            received_at: Some(datetime!(2026-01-01 00:00 UTC)),
            ..RequestDraft::default()
        };
        let fields: Vec<String> =
            validate_request(draft, now, &Intake::default()).unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["type", "regulation", "subject.email", "subject.phone", "received_at"]);
        let empty = RequestDraft { email: None, ..draft_with("access", "gdpr") };
        let problems = validate_request(empty, now, &Intake::default()).unwrap_err();
        assert_eq!(problems, [FieldError::new("subject", "needs at least one of email, customer_id or phone")]);
        let problems = validate_request(draft_with("opt_out", "gdpr"), now, &Intake::default()).unwrap_err();
        assert_eq!(problems[0].field, "type");
        assert!(validate_request(draft_with("opt_out", "ccpa"), now, &Intake::default()).is_ok());
    }

    fn draft_with(kind: &str, regulation: &str) -> RequestDraft {
        draft(kind, regulation)
    }

    #[test]
    fn verification_and_approval_follow_the_intake_unless_the_request_says() {
        let now = datetime!(2025-06-01 12:00 UTC);
        let intake = Intake { verify: vec![Regulation::Gdpr], require_approval: vec![RequestKind::Deletion] };
        let spec = validate_request(draft("deletion", "gdpr"), now, &intake).unwrap();
        assert!(spec.verify && spec.needs_approval);
        let spec = validate_request(draft("access", "ccpa"), now, &intake).unwrap();
        assert!(!spec.verify && !spec.needs_approval);
        let asked = RequestDraft { verify: Some(true), ..draft("access", "ccpa") };
        assert!(validate_request(asked, now, &intake).unwrap().verify);
        let declined = RequestDraft { verify: Some(false), ..draft("access", "gdpr") };
        assert!(!validate_request(declined, now, &intake).unwrap().verify);
        let no_email = RequestDraft {
            email: None,
            customer_id: Some("c-1".into()),
            verify: Some(true),
            ..draft("access", "gdpr")
        };
        let problems = validate_request(no_email, now, &intake).unwrap_err();
        assert_eq!(problems[0].field, "verify");
    }

    #[test]
    fn overdue_means_open_past_the_deadline_or_finished_late() {
        let deadline = datetime!(2025-02-01 00:00 UTC);
        assert!(!is_overdue(deadline, None, datetime!(2025-01-31 00:00 UTC)));
        assert!(is_overdue(deadline, None, datetime!(2025-02-02 00:00 UTC)));
        assert!(!is_overdue(deadline, Some(datetime!(2025-01-20 00:00 UTC)), datetime!(2025-03-01 00:00 UTC)));
        assert!(is_overdue(deadline, Some(datetime!(2025-02-20 00:00 UTC)), datetime!(2025-03-01 00:00 UTC)));
    }

    #[test]
    fn identities_are_scrubbed_from_text_and_kept_out_of_debug() {
        let subject =
            Subject { email: Some("Ann@Example.com".into()), phone: Some("+1 555 0100".into()), ..Default::default() };
        assert_eq!(
            subject.redact("no profile for ann@example.com or +1 555 0100"),
            "no profile for [redacted] or [redacted]"
        );
        assert_eq!(format!("{subject:?}"), "Subject(email,phone)");
    }
}
