//! The workflow's operations: approve, deny, extend, deliver; the subject's
//! verification and download links; and the timers that move requests on
//! when nobody does (links expiring, packages to deliver, operator notices).
//!
//! Each reads the request, asks `domain::workflow::next` (and
//! `domain::extension`), then writes the decided change with the status it
//! read: if someone else changed the request meanwhile, nothing is written
//! and the caller hears 409 with the status it is in now.

use custos_kit::secret;
use time::{Duration, OffsetDateTime};

use super::RequestManager;
use crate::domain::extension::{self, ExtensionError};
use crate::domain::request::RequestStatus;
use crate::domain::role::Actor;
use crate::domain::workflow::{next, Action, Facts, Refused};
use crate::error::RmError;
use crate::mail::messages::{self, About, Message, Notice};
use crate::store::{
    NewMail, NewRequest, NewSubjectLink, RequestChange, RequestRecord, SubjectLinkPurpose, NOTICE_DUE_SOON,
    NOTICE_FAILED, NOTICE_OVERDUE,
};
use crate::views::timestamp;

/// The longest denial reason kept (it is emailed to the subject).
const MAX_REASON_CHARS: usize = 1000;
/// Operators are told this long before a deadline.
const DUE_SOON: Duration = Duration::days(5);
/// Timers handled per sweep; the next sweep takes the rest.
const SWEEP_BATCH: i64 = 100;

/// A request as it is stored on receipt, with what its receipt does.
pub(super) struct Entry {
    pub(super) request: NewRequest,
    pub(super) link: Option<NewSubjectLink>,
    pub(super) mail: Vec<NewMail>,
    pub(super) audit: Vec<String>,
}

/// What a subject's link amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkCheck {
    /// It can be followed: it is the request's.
    Usable {
        request_id: String,
    },
    /// Used up, replaced by a newer one, or its request has moved on (410).
    Used,
    Expired,
    /// Never issued (404); nothing is said about any request.
    Unknown,
}

/// What following a download link gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectPackage {
    Package { request_id: String, bytes: Vec<u8> },
    Refused(LinkCheck),
}

fn facts(record: &RequestRecord) -> Facts {
    Facts { kind: record.kind, needs_approval: record.needs_approval, has_email: record.has_email() }
}

fn about(record: &RequestRecord) -> About<'_> {
    About { id: &record.id, kind: record.kind, regulation: record.regulation, received_at: record.received_at }
}

fn refused(id: &str, refusal: Refused) -> RmError {
    RmError::Conflict(format!("request {id}: {refusal}"))
}

/// A link's token has the shape of a secret: anything else is not looked up.
fn link_digest(token: &str) -> Option<String> {
    let plausible =
        token.len() == 43 && token.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    plausible.then(|| secret::digest(token))
}

impl RequestManager {
    /// Where a new request goes, and what its receipt does: a verification
    /// link emailed to the subject, or nothing but the audit line.
    pub(super) fn entry(&self, mut request: NewRequest, email: Option<&str>) -> Entry {
        let now = request.created_at;
        let (mut link, mut mail) = (None, Vec::new());
        let line = match request.status {
            RequestStatus::Verifying => {
                let issued = secret::issue();
                let expires_at = now + self.config.verification_expiry;
                link = Some(NewSubjectLink {
                    digest: issued.digest,
                    purpose: SubjectLinkPurpose::Verify,
                    expires_at,
                    max_uses: 1,
                });
                request.timer_at = Some(expires_at);
                let about = About {
                    id: &request.id,
                    kind: request.kind,
                    regulation: request.regulation,
                    received_at: request.received_at,
                };
                let url = self.config.link(&format!("/verify/{}", issued.secret));
                mail.extend(email.map(|to| self.mail_to(to, messages::verification(&about, &url, expires_at))));
                format!(
                    "verifying: a verification link was emailed to the subject, valid until {}",
                    timestamp(expires_at)
                )
            }
            RequestStatus::AwaitingApproval => "awaiting_approval: a Request Manager must approve it".to_owned(),
            status => format!("{}: sent to every connection", status.as_str()),
        };
        Entry { request, link, mail, audit: vec![line] }
    }

    /// A message to `to`, sealed for the outbox.
    pub(super) fn mail_to(&self, to: &str, message: Message) -> NewMail {
        NewMail {
            kind: message.kind.to_owned(),
            recipient_sealed: self.key.seal(to),
            subject: message.subject,
            body_sealed: self.key.seal(&message.body),
        }
    }

    /// `message` to the request's subject, if they gave an email address.
    async fn mail_subject(&self, record: &RequestRecord, message: Message) -> Result<Option<NewMail>, RmError> {
        if !record.has_email() {
            return Ok(None);
        }
        let sealed = self.store.subject_sealed(&record.id).await?.ok_or_else(|| self.not_found(&record.id))?;
        let subject = self.open_subject(&sealed)?;
        Ok(subject.email.map(|email| self.mail_to(&email, message)))
    }

    fn not_found(&self, id: &str) -> RmError {
        RmError::NotFound(format!("no request has id {id}"))
    }

    pub async fn request(&self, id: &str) -> Result<RequestRecord, RmError> {
        self.store.request(id).await?.ok_or_else(|| self.not_found(id))
    }

    /// Writes a decided change, and reads the request back.
    async fn apply(&self, change: RequestChange) -> Result<RequestRecord, RmError> {
        let (id, from) = (change.id.clone(), change.from);
        if !self.store.change_request(change, self.now()).await? {
            let now = self.request(&id).await?;
            return Err(RmError::Conflict(format!(
                "request {id} changed meanwhile: it was {} and is {} now",
                from.as_str(),
                now.status.as_str()
            )));
        }
        self.request(&id).await
    }

    /// Approves a request awaiting approval: its jobs start.
    pub async fn approve(&self, id: &str, actor: &Actor) -> Result<RequestRecord, RmError> {
        let record = self.request(id).await?;
        let to = next(record.status, facts(&record), Action::Approve).map_err(|r| refused(id, r))?;
        let mut change = RequestChange::new(id, record.status, to, actor.audit_name());
        change.start_jobs = true;
        change.audit.push(format!("approved: {}", to.as_str()));
        self.apply(change).await
    }

    /// Approves each request it can; says per id what came of it.
    pub async fn approve_many(&self, ids: &[String], actor: &Actor) -> Vec<(String, Result<RequestRecord, RmError>)> {
        let mut outcomes = Vec::with_capacity(ids.len());
        for id in ids {
            outcomes.push((id.clone(), self.approve(id, actor).await));
        }
        outcomes
    }

    /// Denies a request awaiting verification or approval, with the reason
    /// the subject is told.
    pub async fn deny(&self, id: &str, reason: &str, actor: &Actor) -> Result<RequestRecord, RmError> {
        let record = self.request(id).await?;
        let to = next(record.status, facts(&record), Action::Deny).map_err(|r| refused(id, r))?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(RmError::Unprocessable(
                "a reason is required to deny a request: the subject is told it".into(),
            ));
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(RmError::Unprocessable(format!("the reason must be at most {MAX_REASON_CHARS} characters")));
        }
        let mut change = RequestChange::new(id, record.status, to, actor.audit_name());
        change.denial_reason = Some(reason.to_owned());
        change.mail.extend(self.mail_subject(&record, messages::denied(&about(&record), reason)).await?);
        change.audit.push(format!("denied: {reason}"));
        self.apply(change).await
    }

    /// Extends an open request's deadline, once, within the law; the subject is told.
    pub async fn extend(&self, id: &str, days: i64, reason: &str, actor: &Actor) -> Result<RequestRecord, RmError> {
        let record = self.request(id).await?;
        next(record.status, facts(&record), Action::Extend).map_err(|r| refused(id, r))?;
        let extension = extension::extend(record.regulation, record.deadline, record.extension.is_some(), days, reason)
            .map_err(|error| match error {
                ExtensionError::AlreadyExtended => RmError::Conflict(format!("request {id}: {error}")),
                other => RmError::Unprocessable(other.to_string()),
            })?;
        let mut change = RequestChange::new(id, record.status, record.status, actor.audit_name());
        change.timer_at = record.timer_at;
        let message = messages::extended(&about(&record), extension.deadline, &extension.reason);
        change.mail.extend(self.mail_subject(&record, message).await?);
        change.audit.push(format!(
            "deadline extended by {} days to {}: {}",
            extension.days,
            timestamp(extension.deadline),
            extension.reason
        ));
        change.extension = Some(extension);
        self.apply(change).await
    }

    /// Sends (or sends again) an access request's download link to the
    /// subject; an earlier link stops working.
    pub async fn deliver(&self, id: &str, actor: &Actor) -> Result<RequestRecord, RmError> {
        let record = self.request(id).await?;
        let to = next(record.status, facts(&record), Action::Deliver).map_err(|r| refused(id, r))?;
        let change = self.delivery(&record, to, actor).await?;
        self.apply(change).await
    }

    async fn delivery(
        &self,
        record: &RequestRecord,
        to: RequestStatus,
        actor: &Actor,
    ) -> Result<RequestChange, RmError> {
        let issued = secret::issue();
        let expires_at = self.now() + self.config.delivery_link_expiry;
        let downloads = self.config.delivery_link_downloads;
        let url = self.config.link(&format!("/download/{}", issued.secret));
        let mut change = RequestChange::new(&record.id, record.status, to, actor.audit_name());
        change.timer_at = (to == RequestStatus::AwaitingDelivery).then_some(expires_at);
        change.link = Some(NewSubjectLink {
            digest: issued.digest,
            purpose: SubjectLinkPurpose::Download,
            expires_at,
            max_uses: downloads,
        });
        let message = messages::delivery(&about(record), &url, expires_at, downloads);
        change.mail.extend(self.mail_subject(record, message).await?);
        change.audit.push(format!(
            "delivery: a download link was emailed to the subject, valid until {} for {downloads} downloads",
            timestamp(expires_at)
        ));
        Ok(change)
    }

    /// What a subject's link of `purpose` amounts to now, changing nothing.
    pub async fn check_link(&self, token: &str, purpose: SubjectLinkPurpose) -> Result<LinkCheck, RmError> {
        let Some(digest) = link_digest(token) else { return Ok(LinkCheck::Unknown) };
        let Some(link) = self.store.subject_link(&digest).await? else { return Ok(LinkCheck::Unknown) };
        if link.purpose != purpose {
            return Ok(LinkCheck::Unknown);
        }
        let now = self.now();
        Ok(if link.usable(now) {
            LinkCheck::Usable { request_id: link.request_id }
        } else if now >= link.expires_at && !link.revoked && link.uses < link.max_uses {
            LinkCheck::Expired
        } else {
            LinkCheck::Used
        })
    }

    /// The subject confirms their request through the emailed link: it goes
    /// on to approval or processing.
    pub async fn confirm_verification(&self, token: &str) -> Result<LinkCheck, RmError> {
        let check = self.check_link(token, SubjectLinkPurpose::Verify).await?;
        let LinkCheck::Usable { request_id } = &check else { return Ok(check) };
        let record = self.request(request_id).await?;
        let Ok(to) = next(record.status, facts(&record), Action::Verify) else { return Ok(LinkCheck::Used) };
        let mut change = RequestChange::new(request_id, record.status, to, Actor::Subject.audit_name());
        change.use_link = link_digest(token);
        change.start_jobs = to == RequestStatus::Processing;
        change.audit.push(format!("verified: the subject confirmed through the emailed link; {}", to.as_str()));
        if !self.store.change_request(change, self.now()).await? {
            return Ok(LinkCheck::Used);
        }
        Ok(check)
    }

    /// The subject downloads their package through the emailed link; the
    /// first download completes the request.
    pub async fn subject_package(&self, token: &str) -> Result<SubjectPackage, RmError> {
        let check = self.check_link(token, SubjectLinkPurpose::Download).await?;
        let LinkCheck::Usable { request_id } = check else { return Ok(SubjectPackage::Refused(check)) };
        let bytes = self.package(&request_id).await?;
        let digest = link_digest(token).unwrap_or_default();
        let used = self.store.use_link(&digest, "the subject downloaded the package", self.now()).await?;
        if !used.is_some_and(|(_, counted)| counted) {
            return Ok(SubjectPackage::Refused(LinkCheck::Used));
        }
        let record = self.request(&request_id).await?;
        if let Ok(to) = next(record.status, facts(&record), Action::Downloaded) {
            if to != record.status {
                let mut change = RequestChange::new(&request_id, record.status, to, None);
                change.audit.push(format!("{}: the package was delivered", to.as_str()));
                // A concurrent change (the link expiring) closes it just the same.
                self.store.change_request(change, self.now()).await?;
            }
        }
        Ok(SubjectPackage::Package { request_id, bytes })
    }

    /// Moves on every request whose timer is due, and sends the operator
    /// notices due. Returns how many requests changed. Each request is
    /// handled on its own: one that fails is logged and retried next time.
    pub async fn run_timers(&self) -> Result<usize, RmError> {
        let now = self.now();
        let mut changed = 0;
        for record in self.store.due_timers(now, SWEEP_BATCH).await? {
            match self.fire_timer(&record, now).await {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(error) => tracing::error!(request = %record.id, %error, "a request's timer failed"),
            }
        }
        for record in self.store.notice_candidates(now, DUE_SOON).await? {
            match self.send_notices(&record, now).await {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(error) => tracing::error!(request = %record.id, %error, "a request's notices failed"),
            }
        }
        Ok(changed)
    }

    async fn fire_timer(&self, record: &RequestRecord, now: OffsetDateTime) -> Result<bool, RmError> {
        let change = match record.status {
            RequestStatus::Verifying => {
                let to = next(record.status, facts(record), Action::VerificationExpired)
                    .map_err(|r| refused(&record.id, r))?;
                let mut change = RequestChange::new(&record.id, record.status, to, None);
                change.mail.extend(self.mail_subject(record, messages::unverified(&about(record))).await?);
                change.audit.push("unverified: the subject did not confirm in time; the subject was told".into());
                change
            }
            RequestStatus::AwaitingDelivery => {
                match self.store.latest_link(&record.id, SubjectLinkPurpose::Download).await? {
                    None => self.delivery(record, RequestStatus::AwaitingDelivery, &Actor::System).await?,
                    Some(link) if now >= link.expires_at => {
                        let to = next(record.status, facts(record), Action::DeliveryExpired)
                            .map_err(|r| refused(&record.id, r))?;
                        let mut change = RequestChange::new(&record.id, record.status, to, None);
                        change.audit.push(format!(
                            "{}: the download link expired after {} of {} downloads",
                            to.as_str(),
                            link.uses,
                            link.max_uses
                        ));
                        change
                    }
                    Some(link) => {
                        let mut change = RequestChange::new(&record.id, record.status, record.status, None);
                        change.timer_at = Some(link.expires_at);
                        change
                    }
                }
            }
            _ => return Ok(false),
        };
        Ok(self.store.change_request(change, now).await?)
    }

    async fn send_notices(&self, record: &RequestRecord, now: OffsetDateTime) -> Result<bool, RmError> {
        let deadline = record.effective_deadline();
        let mut bits = 0;
        let mut notices = Vec::new();
        if record.status == RequestStatus::Failed && record.notices & NOTICE_FAILED == 0 {
            bits |= NOTICE_FAILED;
            notices.push(Notice::Failed);
        }
        if !record.status.is_closed() {
            if deadline <= now && record.notices & NOTICE_OVERDUE == 0 {
                // An overdue request is past the 5-day notice too.
                bits |= NOTICE_OVERDUE | NOTICE_DUE_SOON;
                notices.push(Notice::Overdue);
            } else if deadline <= now + DUE_SOON && record.notices & NOTICE_DUE_SOON == 0 {
                bits |= NOTICE_DUE_SOON;
                notices.push(Notice::DueSoon);
            }
        }
        if bits == 0 {
            return Ok(false);
        }
        let recipients = self.store.notice_recipients().await?;
        let mut change = RequestChange::new(&record.id, record.status, record.status, None);
        change.timer_at = record.timer_at;
        change.notices = bits;
        for notice in notices {
            let message = messages::operator_notice(&about(record), notice, deadline);
            change.audit.push(format!("operators told ({}): {}", recipients.len(), message.kind));
            change.mail.extend(recipients.iter().map(|to| self.mail_to(to, message.clone())));
        }
        Ok(self.store.change_request(change, now).await?)
    }
}
