//! Mail kept in the outbox: sent by the serving process through SMTP with
//! retries, or, without SMTP, listed for an operator to send by hand and
//! marked sent.

use time::{Duration, OffsetDateTime};

use super::RequestManager;
use crate::domain::role::Actor;
use crate::error::RmError;
use crate::mail::Mailer;
use crate::store::StoredMail;

/// Messages sent per pass; the next pass takes the rest.
const SEND_BATCH: i64 = 20;
/// The first retry's wait; each failure doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::seconds(30);
const MAX_BACKOFF: Duration = Duration::hours(1);

/// A message as an operator reads it: opened, with the links it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub request_id: Option<String>,
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The URLs in the body: the verification or download link.
    pub links: Vec<String>,
    pub created_at: OffsetDateTime,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// When a message that failed `attempts` times is tried again.
fn backoff(attempts: i64) -> Duration {
    let factor = 1i32 << attempts.clamp(0, 16);
    (FIRST_BACKOFF * factor).min(MAX_BACKOFF)
}

impl RequestManager {
    /// Whether mail is sent through SMTP (otherwise it waits for an operator).
    pub fn smtp_configured(&self) -> bool {
        self.config.smtp.is_some()
    }

    fn open_mail(&self, mail: StoredMail) -> Result<OutboxMessage, RmError> {
        let open = |sealed: &str| {
            self.key.open(sealed).ok_or_else(|| RmError::Internal("a message does not open with the key".into()))
        };
        let body = open(&mail.body_sealed)?;
        let links = body.split_whitespace().filter(|word| word.contains("://")).map(str::to_owned).collect();
        Ok(OutboxMessage {
            id: mail.id,
            request_id: mail.request_id,
            kind: mail.kind,
            to: open(&mail.recipient_sealed)?,
            subject: mail.subject,
            body,
            links,
            created_at: mail.created_at,
            attempts: mail.attempts,
            last_error: mail.last_error,
        })
    }

    /// Mail not sent yet, oldest first.
    pub async fn unsent_mail(&self, limit: i64) -> Result<Vec<OutboxMessage>, RmError> {
        self.store.unsent_mail(limit).await?.into_iter().map(|mail| self.open_mail(mail)).collect()
    }

    /// An operator sent a message by hand.
    pub async fn mark_mail_sent(&self, id: i64, actor: &Actor) -> Result<(), RmError> {
        if !self.store.mail_sent(id, Some(&actor.display()), self.now()).await? {
            return Err(RmError::NotFound(format!("no unsent message has id {id}")));
        }
        self.store
            .record_activity(&actor.display(), &format!("marked message {id} as sent by hand"), self.now())
            .await?;
        Ok(())
    }

    /// Sends the messages due; a failure is retried later with backoff.
    /// Returns how many were sent.
    pub async fn send_due_mail(&self, mailer: &Mailer) -> Result<usize, RmError> {
        let mut sent = 0;
        for mail in self.store.due_mail(self.now(), SEND_BATCH).await? {
            let (id, attempts) = (mail.id, mail.attempts);
            let outcome = match self.open_mail(mail) {
                Ok(message) => mailer.send(&message.to, &message.subject, &message.body).await,
                Err(error) => Err(error.to_string()),
            };
            match outcome {
                Ok(()) => {
                    self.store.mail_sent(id, None, self.now()).await?;
                    sent += 1;
                }
                Err(error) => {
                    tracing::warn!(message = id, %error, "sending a message failed; it is tried again later");
                    let retry_at = self.now() + backoff(attempts + 1);
                    self.store.mail_failed(id, &error, retry_at).await?;
                }
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(backoff(1), Duration::minutes(1));
        assert_eq!(backoff(2), Duration::minutes(2));
        assert_eq!(backoff(40), Duration::hours(1));
    }
}
