//! Email with lettre: an async SMTP transport with a connection pool for
//! production, or .eml files in a folder for `make run`.
//!
//! Lead fields come from website forms: they are escaped in HTML, and
//! control characters never reach a header (Notify refuses them).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::domain::notification::{Notification, Subject};

/// What the mail server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailResult {
    Delivered,
    /// A 4xx answer or no answer: try again.
    Transient(String),
    /// A 5xx answer: this message will never be accepted.
    Permanent(String),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Sends notification emails.
pub struct Email {
    /// How mail leaves: SMTP in production, .eml files for `make run`.
    transport: Transport,
    /// The sender every notification email shows.
    from: Mailbox,
    /// Where the CRM web app lives, for links.
    app_url: String,
    /// Bounds one send, waiting for a pooled connection included.
    timeout: Duration,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SMTP URL may carry credentials; it never prints.
        f.debug_struct("Email")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Email {
    /// `url`: `smtp://host:port` (STARTTLS when offered; `?tls=required` to
    /// insist), `smtps://host:port`, or `file:///path/to/folder`.
    pub fn new(url: &str, from: &str, app_url: &str, timeout: Duration) -> anyhow::Result<Email> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("NOTIFIER_MAIL_FROM: {e}"))?;
        let transport = if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir)?;
            Transport::Files(AsyncFileTransport::new(dir))
        } else {
            let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| anyhow::anyhow!("NOTIFIER_SMTP_URL: {e}"))?
                .timeout(Some(timeout))
                .pool_config(
                    PoolConfig::new()
                        .max_size(8)
                        .idle_timeout(Duration::from_secs(30)),
                )
                .build();
            Transport::Smtp(smtp)
        };
        Ok(Email {
            transport,
            from,
            app_url: app_url.trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// Builds the message for a notification.
    pub fn message(&self, to: &str, notification: &Notification) -> Result<Message, String> {
        let to: Mailbox = to.parse().map_err(|e| format!("recipient address: {e}"))?;
        let link = format!("{}{}", self.app_url, notification.url());
        let leads: Vec<String> = match &notification.subject {
            Subject::Lead(lead) => vec![lead.label()],
            Subject::Batch { leads, .. } => leads.iter().map(|l| l.label()).collect(),
        };
        let text = format!(
            "{}\n\n{}\n\nOpen in leadflow: {link}\n",
            notification.body,
            leads
                .iter()
                .map(|l| format!("- {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let items: String = leads
            .iter()
            .map(|l| format!("<li>{}</li>", escape(l)))
            .collect();
        let html = format!(
            "<!doctype html><html><body><p>{}</p><ul>{items}</ul><p><a href=\"{}\">Open in leadflow</a></p></body></html>",
            escape(&notification.body),
            escape(&link)
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(notification.title.clone())
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| format!("building the message: {e}"))
    }

    pub async fn send(&self, to: &str, notification: &Notification) -> EmailResult {
        let message = match self.message(to, notification) {
            Ok(m) => m,
            Err(e) => return EmailResult::Permanent(e),
        };
        let sent = match &self.transport {
            Transport::Smtp(smtp) => match tokio::time::timeout(self.timeout, smtp.send(message))
                .await
            {
                Err(_) => {
                    return EmailResult::Transient(format!("no answer within {:?}", self.timeout));
                }
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) if e.is_permanent() => return EmailResult::Permanent(e.to_string()),
                Ok(Err(e)) => Err(e.to_string()),
            },
            Transport::Files(files) => files
                .send(message)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        };
        match sent {
            Ok(()) => EmailResult::Delivered,
            Err(e) => EmailResult::Transient(e),
        }
    }
}

/// Minimal HTML escaping for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & co"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"
        );
    }
}
