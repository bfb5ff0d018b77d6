//! What `custos rm serve` does beside the worker, every second: fires the
//! workflow's timers (links expiring, packages to deliver, operator
//! notices) and sends the mail that is due, if SMTP is configured.
//!
//! Everything it acts on is in the store, so a restart loses nothing: an
//! expiry passed while the service was down fires at the next sweep, and
//! queued mail is sent then.

use std::future::Future;
use std::time::Duration;

use crate::mail::Mailer;
use crate::manager::RequestManager;

/// How often the timers and the outbox are looked at.
const TICK: Duration = Duration::from_secs(1);

/// Runs until `stop` completes.
pub async fn run(manager: RequestManager, mailer: Option<Mailer>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        sweep(&manager, mailer.as_ref()).await;
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// One pass: the timers, then the mail.
pub async fn sweep(manager: &RequestManager, mailer: Option<&Mailer>) {
    if let Err(error) = manager.run_timers().await {
        tracing::error!(%error, "the workflow's timers failed; trying again shortly");
    }
    if let Some(mailer) = mailer {
        if let Err(error) = manager.send_due_mail(mailer).await {
            tracing::error!(%error, "sending mail failed; trying again shortly");
        }
    }
}
