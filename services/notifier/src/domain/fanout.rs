//! Which channels a notification goes out on, decided in one place.
//!
//! The bell always rings: the stored notification is the in-app bell, and
//! nobody can turn it off. Beyond it, a recipient gets one Web Push delivery
//! per browser subscription while push is on, and one email while email is
//! on and an address is known. The store reads preferences and subscriptions
//! and applies what [`fan_out`] returns; it decides nothing itself.

/// A delivery channel beyond the bell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    WebPush,
    Email,
}

impl Channel {
    /// The stored name of the channel.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WebPush => "web_push",
            Channel::Email => "email",
        }
    }

    /// A stored name back (`None` for a name this version does not know).
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "web_push" => Some(Channel::WebPush),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

/// A channel's preferences for one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preferences {
    /// Whether the agent opted in to email.
    pub email_enabled: bool,
    /// Whether the agent's subscribed browsers are pushed to.
    pub push_enabled: bool,
}

impl Default for Preferences {
    /// In-app is always on; push is on until the agent turns it off (it needs
    /// a browser subscription anyway); email is opt-in.
    fn default() -> Self {
        Preferences {
            email_enabled: false,
            push_enabled: true,
        }
    }
}

/// One delivery to queue: where, and over which channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTarget {
    /// How it is sent.
    pub channel: Channel,
    /// The push endpoint or the email address.
    pub target: String,
}

/// The deliveries of one new notification, pushes first (in the order of
/// `endpoints`), then the email. `email` empty means no address is known;
/// `endpoints` are the recipient's push subscriptions.
pub fn fan_out(prefs: Preferences, email: &str, endpoints: &[String]) -> Vec<DeliveryTarget> {
    let mut targets = Vec::new();
    if prefs.push_enabled {
        targets.extend(endpoints.iter().map(|endpoint| DeliveryTarget {
            channel: Channel::WebPush,
            target: endpoint.clone(),
        }));
    }
    if prefs.email_enabled && !email.is_empty() {
        targets.push(DeliveryTarget {
            channel: Channel::Email,
            target: email.to_owned(),
        });
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Vec<String> {
        vec![
            "https://fcm.googleapis.com/a".to_owned(),
            "https://fcm.googleapis.com/b".to_owned(),
        ]
    }

    fn channels(targets: &[DeliveryTarget]) -> Vec<(Channel, &str)> {
        targets
            .iter()
            .map(|t| (t.channel, t.target.as_str()))
            .collect()
    }

    #[test]
    fn by_default_every_browser_is_pushed_and_no_email_is_sent() {
        let targets = fan_out(Preferences::default(), "ana@example.com", &endpoints());
        assert_eq!(
            channels(&targets),
            [
                (Channel::WebPush, "https://fcm.googleapis.com/a"),
                (Channel::WebPush, "https://fcm.googleapis.com/b"),
            ]
        );
    }

    #[test]
    fn email_goes_last_and_only_with_an_address() {
        let both = Preferences {
            email_enabled: true,
            push_enabled: true,
        };
        let targets = fan_out(both, "ana@example.com", &endpoints()[..1]);
        assert_eq!(
            channels(&targets),
            [
                (Channel::WebPush, "https://fcm.googleapis.com/a"),
                (Channel::Email, "ana@example.com"),
            ]
        );
        assert_eq!(
            channels(&fan_out(both, "", &endpoints()[..1])),
            [(Channel::WebPush, "https://fcm.googleapis.com/a")]
        );
    }

    #[test]
    fn turned_off_channels_get_nothing_and_the_bell_alone_remains() {
        let email_only = Preferences {
            email_enabled: true,
            push_enabled: false,
        };
        assert_eq!(
            channels(&fan_out(email_only, "ana@example.com", &endpoints())),
            [(Channel::Email, "ana@example.com")]
        );
        let none = Preferences {
            email_enabled: false,
            push_enabled: false,
        };
        assert!(fan_out(none, "ana@example.com", &endpoints()).is_empty());
        assert!(fan_out(Preferences::default(), "ana@example.com", &[]).is_empty());
    }

    #[test]
    fn channel_names_read_back() {
        for channel in [Channel::WebPush, Channel::Email] {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
        assert_eq!(Channel::parse("sms"), None);
    }
}
