//! How values sit in the store's columns: timestamps as Unix milliseconds,
//! the domain's enums as their text (read back strictly: a value this
//! version does not know is [`StoreError::Corrupt`]).

use time::OffsetDateTime;

use super::StoreError;
use crate::domain::job::{JobStatus, Step};
use crate::domain::request::{Regulation, RequestKind, RequestStatus};

/// The job statuses a job can still change from, as an SQL list.
pub(super) const OPEN: &str = "('pending', 'in_progress')";

/// A timestamp as stored: Unix milliseconds.
pub(super) fn ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(super) fn from_ms(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(super) fn parse_step(text: &str) -> Result<Step, StoreError> {
    Step::parse(text).ok_or_else(|| StoreError::Corrupt(format!("job step `{text}`")))
}

pub(super) fn parse_job_status(text: &str) -> Result<JobStatus, StoreError> {
    JobStatus::parse(text).ok_or_else(|| StoreError::Corrupt(format!("job status `{text}`")))
}

pub(super) fn parse_kind(text: &str) -> Result<RequestKind, StoreError> {
    RequestKind::parse(text).ok_or_else(|| StoreError::Corrupt(format!("request type `{text}`")))
}

pub(super) fn parse_regulation(text: &str) -> Result<Regulation, StoreError> {
    Regulation::parse(text).ok_or_else(|| StoreError::Corrupt(format!("regulation `{text}`")))
}

pub(super) fn parse_request_status(text: &str) -> Result<RequestStatus, StoreError> {
    RequestStatus::parse(text).ok_or_else(|| StoreError::Corrupt(format!("request status `{text}`")))
}
