//! Sending through SMTP with `lettre`: `smtp://[user:password@]host[:port]`
//! uses STARTTLS when the server offers it, and requires it when the URL
//! carries credentials (so they never cross the network in clear);
//! `smtps://` is TLS from the first byte. Certificates are checked against
//! the system's roots.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use url::Url;

/// `--smtp-url` and `--mail-from`.
#[derive(Clone)]
pub struct SmtpConfig {
    url: Url,
    from: Mailbox,
}

// The URL may hold a password.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self.url.host_str().unwrap_or_default();
        write!(f, "SmtpConfig({}://{host}:{:?}, from {})", self.url.scheme(), self.url.port(), self.from)
    }
}

impl SmtpConfig {
    pub fn parse(url: &str, from: &str) -> Result<SmtpConfig, String> {
        let url = Url::parse(url).map_err(|_| "--smtp-url must be smtp://host:port or smtps://host:port".to_owned())?;
        if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none_or(str::is_empty) {
            return Err("--smtp-url must be smtp://[user:password@]host[:port] or smtps://…".into());
        }
        let from = from.parse::<Mailbox>().map_err(|_| format!("--mail-from `{from}` is not an email address"))?;
        Ok(SmtpConfig { url, from })
    }
}

/// Sends messages through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> Result<Mailer, String> {
        let url = &config.url;
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_owned();
        let implicit = url.scheme() == "smtps";
        let port = url.port().unwrap_or(if implicit { 465 } else { 25 });
        let parameters = TlsParameters::new(host.clone()).map_err(|error| format!("TLS for {host}: {error}"))?;
        let user = percent_decoded(url.username());
        let tls = if implicit {
            Tls::Wrapper(parameters)
        } else if user.is_empty() {
            Tls::Opportunistic(parameters)
        } else {
            Tls::Required(parameters)
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if !user.is_empty() {
            let password = percent_decoded(url.password().unwrap_or_default());
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Mailer { transport: builder.build(), from: config.from.clone() })
    }

    /// Sends one plain-text message; the error says what failed, never to whom.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let to = to.parse::<Mailbox>().map_err(|_| "the recipient is not an email address".to_owned())?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|error| format!("composing the message: {error}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|error| format!("SMTP: {error}"))
    }
}

fn percent_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_and_senders_are_checked_and_passwords_stay_out_of_debug() {
        let config =
            SmtpConfig::parse("smtp://ann:s%40cret@mail.example.com:587", "Privacy <privacy@example.com>").unwrap();
        assert!(!format!("{config:?}").contains("cret"), "{config:?}");
        assert!(Mailer::new(&config).is_ok());
        assert!(SmtpConfig::parse("http://mail.example.com", "a@b.c").is_err());
        assert!(SmtpConfig::parse("smtp://mail.example.com", "not an address").is_err());
        assert_eq!(percent_decoded("s%40cret"), "s@cret");
    }
}
