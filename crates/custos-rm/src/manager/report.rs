//! The report for regulators (CSV, no personal data) and the summary the
//! console's home page shows.

use time::{Date, Duration, OffsetDateTime, Time};

use super::RequestManager;
use crate::domain::report::{csv_row, summarize, ReportedRequest, Summary, CSV_HEADER};
use crate::error::RmError;
use crate::store::RequestRecord;

fn reported(record: RequestRecord) -> ReportedRequest {
    ReportedRequest {
        extended_deadline: record.extension.as_ref().map(|extension| extension.deadline),
        id: record.id,
        kind: record.kind,
        regulation: record.regulation,
        status: record.status,
        received_at: record.received_at,
        deadline: record.deadline,
        finished_at: record.finished_at,
    }
}

impl RequestManager {
    /// The requests received from `from` through `to` (UTC days, both
    /// included), one CSV row each under [`CSV_HEADER`].
    pub async fn requests_csv(&self, from: Date, to: Date) -> Result<String, RmError> {
        if to < from {
            return Err(RmError::invalid("to", "must not be before from"));
        }
        let start = OffsetDateTime::new_utc(from, Time::MIDNIGHT);
        let end = OffsetDateTime::new_utc(to, Time::MIDNIGHT) + Duration::days(1);
        let records = self.store.requests_received(start, end).await?;
        let failed = |error: &dyn std::fmt::Display| RmError::Internal(format!("writing the report: {error}"));
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(CSV_HEADER).map_err(|e| failed(&e))?;
        for record in records {
            writer.write_record(csv_row(&reported(record))).map_err(|e| failed(&e))?;
        }
        let bytes = writer.into_inner().map_err(|e| failed(&e))?;
        String::from_utf8(bytes).map_err(|e| failed(&e))
    }

    /// Open, overdue and due-this-week counts, and median days to complete per type.
    pub async fn summary(&self) -> Result<Summary, RmError> {
        let requests: Vec<ReportedRequest> =
            self.store.requests_to_summarize().await?.into_iter().map(reported).collect();
        Ok(summarize(&requests, self.now()))
    }
}
