//! Extending a request's deadline: once, with a reason, within the law.
//!
//! GDPR Art. 12(3): the month "may be extended by two further months where
//! necessary", so the extended deadline is at most two calendar months
//! after the original one. CCPA §1798.130(a)(2): the 45 days "may be
//! extended once by an additional 45 days".

use time::{Duration, OffsetDateTime};

use super::request::{add_months, Regulation};

/// The longest reason kept.
const MAX_REASON_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    #[error("a reason is required")]
    EmptyReason,
    #[error("the reason must be at most {MAX_REASON_CHARS} characters")]
    LongReason,
    #[error("days must be at least 1")]
    NotPositive,
    #[error("{regulation} allows at most {limit}: {days} days would end after {latest}")]
    BeyondLaw { regulation: &'static str, limit: &'static str, days: i64, latest: String },
    #[error("the deadline was already extended once")]
    AlreadyExtended,
}

/// A checked extension: the new deadline and the trimmed reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub days: i64,
    pub deadline: OffsetDateTime,
    pub reason: String,
}

/// The latest deadline the law allows for a request whose original deadline is `deadline`.
pub fn latest_deadline(regulation: Regulation, deadline: OffsetDateTime) -> OffsetDateTime {
    match regulation {
        Regulation::Gdpr => add_months(deadline, 2),
        Regulation::Ccpa => deadline + Duration::days(45),
    }
}

/// Checks an extension of `days` past the original `deadline`.
pub fn extend(
    regulation: Regulation,
    deadline: OffsetDateTime,
    already_extended: bool,
    days: i64,
    reason: &str,
) -> Result<Extension, ExtensionError> {
    if already_extended {
        return Err(ExtensionError::AlreadyExtended);
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ExtensionError::EmptyReason);
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ExtensionError::LongReason);
    }
    if days < 1 {
        return Err(ExtensionError::NotPositive);
    }
    let latest = latest_deadline(regulation, deadline);
    let extended = Duration::days(days.min(10_000));
    if deadline + extended > latest {
        let (name, limit) = match regulation {
            Regulation::Gdpr => ("the GDPR", "two further months"),
            Regulation::Ccpa => ("the CCPA", "45 further days"),
        };
        return Err(ExtensionError::BeyondLaw { regulation: name, limit, days, latest: latest.date().to_string() });
    }
    Ok(Extension { days, deadline: deadline + extended, reason: reason.to_owned() })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn gdpr_allows_two_further_calendar_months() {
        let deadline = datetime!(2025-01-31 10:00 UTC);
        // Two months from January 31st end on March 31st: 59 days in 2025.
        assert_eq!(latest_deadline(Regulation::Gdpr, deadline), datetime!(2025-03-31 10:00 UTC));
        assert_eq!(
            extend(Regulation::Gdpr, deadline, false, 59, "volume").unwrap().deadline,
            datetime!(2025-03-31 10:00 UTC)
        );
        let refused = extend(Regulation::Gdpr, deadline, false, 60, "volume").unwrap_err();
        assert!(matches!(refused, ExtensionError::BeyondLaw { days: 60, .. }), "{refused}");
        assert!(refused.to_string().contains("2025-03-31"), "{refused}");
        // From December 31st, through a leap February, into the next year.
        assert_eq!(latest_deadline(Regulation::Gdpr, datetime!(2023-12-31 00:00 UTC)), datetime!(2024-02-29 00:00 UTC));
        assert_eq!(latest_deadline(Regulation::Gdpr, datetime!(2024-11-15 00:00 UTC)), datetime!(2025-01-15 00:00 UTC));
    }

    #[test]
    fn ccpa_allows_45_further_days_once() {
        let deadline = datetime!(2025-03-01 00:00 UTC);
        assert_eq!(
            extend(Regulation::Ccpa, deadline, false, 45, "r").unwrap().deadline,
            datetime!(2025-04-15 00:00 UTC)
        );
        assert!(matches!(extend(Regulation::Ccpa, deadline, false, 46, "r"), Err(ExtensionError::BeyondLaw { .. })));
        assert_eq!(extend(Regulation::Ccpa, deadline, true, 10, "r"), Err(ExtensionError::AlreadyExtended));
    }

    #[test]
    fn a_reason_and_positive_days_are_required() {
        let deadline = datetime!(2025-03-01 00:00 UTC);
        assert_eq!(extend(Regulation::Gdpr, deadline, false, 10, "  "), Err(ExtensionError::EmptyReason));
        assert_eq!(extend(Regulation::Gdpr, deadline, false, 0, "r"), Err(ExtensionError::NotPositive));
        assert_eq!(extend(Regulation::Gdpr, deadline, false, -3, "r"), Err(ExtensionError::NotPositive));
        assert_eq!(extend(Regulation::Gdpr, deadline, false, 10, &"x".repeat(1001)), Err(ExtensionError::LongReason));
        let ok = extend(Regulation::Gdpr, deadline, false, 10, "  many systems ").unwrap();
        assert_eq!((ok.days, ok.reason.as_str()), (10, "many systems"));
        // Absurd numbers of days are refused, not overflowed.
        let huge = extend(Regulation::Gdpr, deadline, false, i64::MAX, "r").unwrap_err();
        assert!(huge.to_string().contains("the GDPR allows at most two further months"), "{huge}");
    }
}
