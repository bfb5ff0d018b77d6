//! The text of every message. Subjects' messages carry one link at most
//! (verification or download), absolute, and no other URL; operators'
//! notices name the request by id. Plain text, no personal data besides
//! what the reader already knows (the subject's own request).

use time::OffsetDateTime;

use crate::domain::request::{Regulation, RequestKind};

/// A message ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What it says, for the outbox list: `verification`, `delivery`, …
    pub kind: &'static str,
    pub subject: String,
    pub body: String,
}

/// What a message says of its request.
#[derive(Debug, Clone, Copy)]
pub struct About<'a> {
    pub id: &'a str,
    pub kind: RequestKind,
    pub regulation: Regulation,
    pub received_at: OffsetDateTime,
}

fn what(about: &About) -> &'static str {
    match about.kind {
        RequestKind::Access => "request for a copy of your personal data",
        RequestKind::Deletion => "request to delete your personal data",
        RequestKind::OptOut => "request to opt out of the sale or sharing of your personal data",
    }
}

fn day(at: OffsetDateTime) -> String {
    format!("{} {} {}", at.day(), at.month(), at.year())
}

const SIGNATURE: &str =
    "\n\nThis message was sent by the privacy team's request manager. Reply to it if you have questions.\n";

pub fn verification(about: &About, link: &str, expires_at: OffsetDateTime) -> Message {
    Message {
        kind: "verification",
        subject: "Confirm your privacy request".into(),
        body: format!(
            "We received your {} on {}.\n\nTo confirm that you made it, open this link and press Confirm:\n\n{link}\n\n\
             The link works once, until {}. If you did not make this request, ignore this message: nothing will \
             be done without your confirmation.{SIGNATURE}",
            what(about),
            day(about.received_at),
            day(expires_at),
        ),
    }
}

pub fn unverified(about: &About) -> Message {
    Message {
        kind: "unverified",
        subject: "Your privacy request was closed".into(),
        body: format!(
            "We received your {} on {}, but it was not confirmed in time, so it has been closed and nothing was \
             done. You can make the request again.{SIGNATURE}",
            what(about),
            day(about.received_at),
        ),
    }
}

pub fn denied(about: &About, reason: &str) -> Message {
    Message {
        kind: "denied",
        subject: "Your privacy request was declined".into(),
        body: format!(
            "We received your {} on {}, and we have declined it, for this reason:\n\n{reason}\n\n\
             You may lodge a complaint with a supervisory authority if you disagree.{SIGNATURE}",
            what(about),
            day(about.received_at),
        ),
    }
}

pub fn extended(about: &About, deadline: OffsetDateTime, reason: &str) -> Message {
    Message {
        kind: "extended",
        subject: "Your privacy request needs more time".into(),
        body: format!(
            "We received your {} on {}. We need more time to complete it, and will answer by {}, for this \
             reason:\n\n{reason}{SIGNATURE}",
            what(about),
            day(about.received_at),
            day(deadline),
        ),
    }
}

pub fn delivery(about: &About, link: &str, expires_at: OffsetDateTime, downloads: i64) -> Message {
    Message {
        kind: "delivery",
        subject: "Your personal data is ready to download".into(),
        body: format!(
            "Your {} of {} is complete. Download your data here:\n\n{link}\n\n\
             The link works {downloads} times, until {}. Keep the file safe: it holds your personal data.{SIGNATURE}",
            what(about),
            day(about.received_at),
            day(expires_at),
        ),
    }
}

/// What operators are told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    DueSoon,
    Overdue,
    Failed,
}

pub fn operator_notice(about: &About, notice: Notice, deadline: OffsetDateTime) -> Message {
    let (kind, subject, says) = match notice {
        Notice::DueSoon => ("due_soon", "due in 5 days", format!("is due on {}", day(deadline))),
        Notice::Overdue => ("overdue", "overdue", format!("passed its deadline on {}", day(deadline))),
        Notice::Failed => ("failed", "failed", "failed: see its audit trail for the connection and the cause".into()),
    };
    Message {
        kind,
        subject: format!("Request {} {subject}", about.id),
        body: format!(
            "The {} {} request {} (received {}) {says}.\n\nYou receive these notices because you asked for them in \
             the request manager's users.\n",
            about.regulation.as_str().to_uppercase(),
            about.kind.as_str(),
            about.id,
            day(about.received_at),
        ),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn about() -> About<'static> {
        About {
            id: "r-1",
            kind: RequestKind::Access,
            regulation: Regulation::Gdpr,
            received_at: datetime!(2025-03-04 10:00 UTC),
        }
    }

    fn links(text: &str) -> Vec<&str> {
        text.split_whitespace().filter(|word| word.contains("://")).collect()
    }

    #[test]
    fn subjects_messages_hold_their_one_link_and_no_other() {
        let link = "https://rm.example.com/verify/tok";
        let message = verification(&about(), link, datetime!(2025-03-11 10:00 UTC));
        assert_eq!(links(&message.body), [link]);
        assert!(message.body.contains("11 March 2025"), "{}", message.body);
        let message = delivery(&about(), "https://rm.example.com/download/tok", datetime!(2025-03-11 10:00 UTC), 3);
        assert_eq!(links(&message.body), ["https://rm.example.com/download/tok"]);
        assert!(message.body.contains("3 times"));
        for message in [
            unverified(&about()),
            denied(&about(), "we hold no data"),
            extended(&about(), datetime!(2025-05-04 10:00 UTC), "volume"),
            operator_notice(&about(), Notice::Overdue, datetime!(2025-04-04 10:00 UTC)),
        ] {
            assert!(links(&message.body).is_empty(), "{}", message.body);
        }
    }

    #[test]
    fn a_denial_and_an_extension_say_why() {
        assert!(denied(&about(), "identity not established").body.contains("identity not established"));
        let message = extended(&about(), datetime!(2025-05-04 10:00 UTC), "many systems");
        assert!(message.body.contains("many systems") && message.body.contains("4 May 2025"));
        let notice = operator_notice(&about(), Notice::DueSoon, datetime!(2025-04-04 10:00 UTC));
        assert_eq!(notice.subject, "Request r-1 due in 5 days");
    }
}
