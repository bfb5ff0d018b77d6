//! The figures a privacy team reports: one row per request for regulators
//! (no personal data: ids, types, dates, outcomes), and the home page's
//! counts and median days to complete.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::request::{Regulation, RequestKind};
use super::workflow::RequestStatus;

/// The report's columns, in order.
pub const CSV_HEADER: [&str; 9] =
    ["id", "type", "regulation", "received", "deadline", "extended", "completed", "outcome", "days_taken"];

/// What the report reads of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedRequest {
    pub id: String,
    pub kind: RequestKind,
    pub regulation: Regulation,
    pub status: RequestStatus,
    pub received_at: OffsetDateTime,
    pub deadline: OffsetDateTime,
    pub extended_deadline: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
}

impl ReportedRequest {
    /// The deadline in force: the extended one once extended.
    pub fn effective_deadline(&self) -> OffsetDateTime {
        self.extended_deadline.unwrap_or(self.deadline)
    }
}

/// Whole days begun between receipt and closing: a request answered within
/// the day took 1 day, as deadlines count days.
pub fn days_taken(received_at: OffsetDateTime, finished_at: OffsetDateTime) -> i64 {
    let seconds = (finished_at - received_at).whole_seconds().max(0);
    (seconds + 86_399) / 86_400
}

fn date_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// One row of the report: `extended` is the extended deadline, if any;
/// `completed` is when it was answered (closed, or its package sent to the
/// subject), and it and `days_taken` are empty until then; `outcome` is its status.
pub fn csv_row(request: &ReportedRequest) -> [String; 9] {
    let answered = request.finished_at;
    [
        request.id.clone(),
        request.kind.as_str().to_owned(),
        request.regulation.as_str().to_owned(),
        date_time(request.received_at),
        date_time(request.deadline),
        request.extended_deadline.map(date_time).unwrap_or_default(),
        answered.map(date_time).unwrap_or_default(),
        request.status.as_str().to_owned(),
        answered.map(|at| days_taken(request.received_at, at).to_string()).unwrap_or_default(),
    ]
}

/// The home page's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Requests not closed.
    pub open: u64,
    /// Open requests past their deadline (not answered in time).
    pub overdue: u64,
    /// Open requests not yet answered whose deadline falls within the next 7 days.
    pub due_this_week: u64,
    /// Median days to complete, per type, of completed requests (none yet: `None`).
    pub median_days: Vec<(RequestKind, Option<f64>)>,
}

/// The figures of `requests` at `now`.
pub fn summarize(requests: &[ReportedRequest], now: OffsetDateTime) -> Summary {
    let open: Vec<&ReportedRequest> = requests.iter().filter(|r| !r.status.is_closed()).collect();
    // An access request whose package went out is answered, though open until downloaded.
    let overdue = open.iter().filter(|r| r.finished_at.unwrap_or(now) > r.effective_deadline()).count() as u64;
    let week = now + Duration::days(7);
    let due_this_week =
        open.iter().filter(|r| r.finished_at.is_none() && (now..=week).contains(&r.effective_deadline())).count()
            as u64;
    let median_days = RequestKind::ALL
        .into_iter()
        .map(|kind| {
            let mut days: Vec<f64> = requests
                .iter()
                .filter(|r| r.kind == kind && r.status == RequestStatus::Completed)
                .filter_map(|r| r.finished_at.map(|at| (at - r.received_at).as_seconds_f64() / 86_400.0))
                .collect();
            (kind, median(&mut days))
        })
        .collect();
    Summary { open: open.len() as u64, overdue, due_this_week, median_days }
}

/// The median, rounded to a tenth.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    let median =
        if values.len().is_multiple_of(2) { (values[middle - 1] + values[middle]) / 2.0 } else { values[middle] };
    Some((median * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn request(
        kind: RequestKind,
        status: RequestStatus,
        received: OffsetDateTime,
        days: Option<i64>,
    ) -> ReportedRequest {
        ReportedRequest {
            id: "r".into(),
            kind,
            regulation: Regulation::Gdpr,
            status,
            received_at: received,
            deadline: received + Duration::days(30),
            extended_deadline: None,
            finished_at: days.map(|d| received + Duration::days(d)),
        }
    }

    #[test]
    fn a_row_says_dates_and_outcome_and_nothing_personal() {
        let received = datetime!(2025-01-10 08:00 UTC);
        let mut done = request(RequestKind::Access, RequestStatus::Completed, received, None);
        done.finished_at = Some(received + Duration::hours(30));
        done.extended_deadline = Some(datetime!(2025-03-01 00:00 UTC));
        assert_eq!(
            csv_row(&done),
            [
                "r",
                "access",
                "gdpr",
                "2025-01-10T08:00:00Z",
                "2025-02-09T08:00:00Z",
                "2025-03-01T00:00:00Z",
                "2025-01-11T14:00:00Z",
                "completed",
                "2"
            ]
        );
        let open = request(RequestKind::Deletion, RequestStatus::AwaitingApproval, received, None);
        let row = csv_row(&open);
        assert_eq!((&row[5][..], &row[6][..], &row[7][..], &row[8][..]), ("", "", "awaiting_approval", ""));
        assert_eq!(CSV_HEADER.join(","), "id,type,regulation,received,deadline,extended,completed,outcome,days_taken");
    }

    #[test]
    fn days_taken_counts_days_begun() {
        let t = datetime!(2025-01-01 00:00 UTC);
        assert_eq!(days_taken(t, t), 0);
        assert_eq!(days_taken(t, t + Duration::minutes(5)), 1);
        assert_eq!(days_taken(t, t + Duration::days(1)), 1);
        assert_eq!(days_taken(t, t + Duration::days(1) + Duration::seconds(1)), 2);
    }

    #[test]
    fn the_summary_counts_open_overdue_and_due_this_week_and_medians_per_type() {
        let now = datetime!(2025-06-30 12:00 UTC);
        let requests = [
            // Open, deadline passed.
            request(RequestKind::Access, RequestStatus::Processing, now - Duration::days(40), None),
            // Open, due in 3 days.
            request(RequestKind::Deletion, RequestStatus::Verifying, now - Duration::days(27), None),
            // Answered in time (its package went out), waiting for the download: not overdue.
            ReportedRequest {
                finished_at: Some(now - Duration::days(20)),
                ..request(RequestKind::Access, RequestStatus::AwaitingDelivery, now - Duration::days(40), None)
            },
            // Open, but extended past this week.
            ReportedRequest {
                extended_deadline: Some(now + Duration::days(20)),
                ..request(RequestKind::Deletion, RequestStatus::AwaitingApproval, now - Duration::days(27), None)
            },
            request(RequestKind::Access, RequestStatus::Completed, now - Duration::days(60), Some(4)),
            request(RequestKind::Access, RequestStatus::Completed, now - Duration::days(60), Some(10)),
            request(RequestKind::Access, RequestStatus::Completed, now - Duration::days(60), Some(1)),
            request(RequestKind::Access, RequestStatus::Completed, now - Duration::days(60), Some(3)),
            // Denied requests do not count towards the time to complete.
            request(RequestKind::Deletion, RequestStatus::Denied, now - Duration::days(60), Some(1)),
            request(RequestKind::Deletion, RequestStatus::Completed, now - Duration::days(60), Some(7)),
        ];
        let summary = summarize(&requests, now);
        assert_eq!((summary.open, summary.overdue, summary.due_this_week), (4, 1, 1));
        assert_eq!(
            summary.median_days,
            [(RequestKind::Access, Some(3.5)), (RequestKind::Deletion, Some(7.0)), (RequestKind::OptOut, None)]
        );
    }
}
