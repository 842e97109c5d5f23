//! Web Push subscriptions: which endpoints the notifier may ever POST to,
//! what valid browser keys look like, and payloads that always fit.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

use crate::error::NotifierError;

/// The push services of the major browsers. A host matches an entry equal to
/// it or ending in `.entry`.
pub const DEFAULT_PUSH_ALLOWLIST: &[&str] = &[
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "push.services.mozilla.com",
    "notify.windows.com",
    "push.apple.com",
];

/// RFC 8291: a push message body may be 4,096 bytes once encrypted; with the
/// aes128gcm header and padding delimiter that leaves 3,993 bytes of JSON.
pub const MAX_PLAINTEXT_BYTES: usize = 3_993;

/// What may be subscribed to.
#[derive(Debug, Clone)]
pub struct PushPolicy {
    pub allowlist: Vec<String>,
    /// Tests only: accept `http://127.0.0.1:<port>/…` and `http://localhost:…`.
    pub allow_loopback_http: bool,
}

impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            allowlist: DEFAULT_PUSH_ALLOWLIST
                .iter()
                .map(|s| s.to_string())
                .collect(),
            allow_loopback_http: false,
        }
    }
}

fn decode_b64(value: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .ok()
        .or_else(|| URL_SAFE.decode(value).ok())
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

impl PushPolicy {
    /// Checks a subscription endpoint: https, a host on the allowlist, never a
    /// private address. Returns the normalised URL.
    pub fn check_endpoint(&self, endpoint: &str) -> Result<String, NotifierError> {
        let refuse = |why: &str| NotifierError::invalid("endpoint", why.to_owned());
        let uri: http::Uri = endpoint.parse().map_err(|_| refuse("is not a URL"))?;
        let host = uri
            .host()
            .ok_or_else(|| refuse("has no host"))?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let loopback =
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if self.allow_loopback_http && loopback => return Ok(endpoint.to_owned()),
            _ => return Err(refuse("must be an https URL of a browser push service")),
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            let why = if is_private(ip) {
                "points at a private address"
            } else {
                "must name a push service, not an address"
            };
            return Err(refuse(why));
        }
        if loopback && self.allow_loopback_http {
            return Ok(endpoint.to_owned());
        }
        let allowed = self
            .allowlist
            .iter()
            .any(|entry| host == *entry || host.ends_with(&format!(".{entry}")));
        if !allowed {
            return Err(refuse("is not on the push-service allowlist"));
        }
        Ok(endpoint.to_owned())
    }
}

/// A browser's P-256 public key: 65 bytes, uncompressed (0x04 …), base64url.
pub fn check_p256dh(value: &str) -> Result<Vec<u8>, NotifierError> {
    match decode_b64(value) {
        Some(bytes)
            if bytes.len() == 65
                && bytes[0] == 0x04
                && p256::PublicKey::from_sec1_bytes(&bytes).is_ok() =>
        {
            Ok(bytes)
        }
        _ => Err(NotifierError::invalid(
            "p256dh",
            "must be a 65-byte uncompressed P-256 point, base64url",
        )),
    }
}

/// The browser's auth secret: 16 bytes, base64url.
pub fn check_auth(value: &str) -> Result<Vec<u8>, NotifierError> {
    match decode_b64(value) {
        Some(bytes) if bytes.len() == 16 => Ok(bytes),
        _ => Err(NotifierError::invalid(
            "auth",
            "must be 16 bytes, base64url",
        )),
    }
}

/// The JSON a service worker receives: `{title, body, lead_id, url}`, with
/// the body shortened (on a character boundary, with an ellipsis) so the
/// whole payload fits [`MAX_PLAINTEXT_BYTES`]. Never oversize.
pub fn payload(title: &str, body: &str, lead_id: Option<&str>, url: &str) -> Vec<u8> {
    let render = |body: &str| {
        serde_json::to_vec(
            &serde_json::json!({"title": title, "body": body, "lead_id": lead_id, "url": url}),
        )
        .expect("JSON of strings")
    };
    let full = render(body);
    if full.len() <= MAX_PLAINTEXT_BYTES {
        return full;
    }
    let chars: Vec<char> = body.chars().collect();
    let (mut lo, mut hi) = (0usize, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let candidate: String = chars[..mid].iter().collect::<String>() + "…";
        if render(&candidate).len() <= MAX_PLAINTEXT_BYTES {
            lo = mid
        } else {
            hi = mid - 1
        }
    }
    let shortened = render(&(chars[..lo].iter().collect::<String>() + "…"));
    if shortened.len() <= MAX_PLAINTEXT_BYTES {
        shortened
    } else {
        // Even an empty body does not fit: the title is the problem; drop the body.
        let title: String = title.chars().take(500).collect();
        serde_json::to_vec(
            &serde_json::json!({"title": title, "body": "", "lead_id": lead_id, "url": url}),
        )
        .expect("JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowlisted_https_push_services_are_accepted() {
        let policy = PushPolicy::default();
        assert!(
            policy
                .check_endpoint("https://fcm.googleapis.com/fcm/send/abc")
                .is_ok()
        );
        assert!(
            policy
                .check_endpoint("https://wns2-par02p.notify.windows.com/w/?token=x")
                .is_ok()
        );
        for bad in [
            "http://fcm.googleapis.com/fcm/send/abc",
            "https://evil.example.com/hook",
            "https://fcm.googleapis.com.evil.com/x",
            "https://10.0.0.5/internal",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "http://127.0.0.1:8080/push",
            "not a url",
        ] {
            assert!(policy.check_endpoint(bad).is_err(), "{bad}");
        }
        let tests = PushPolicy {
            allow_loopback_http: true,
            ..PushPolicy::default()
        };
        assert!(tests.check_endpoint("http://127.0.0.1:8080/push").is_ok());
        assert!(tests.check_endpoint("http://10.0.0.5:8080/push").is_err());
    }

    #[test]
    fn payloads_always_fit_and_keep_valid_json() {
        let long = "é".repeat(5_000);
        let p = payload("New lead", &long, Some("l-1"), "/leads/l-1");
        assert!(p.len() <= MAX_PLAINTEXT_BYTES);
        let json: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert!(json["body"].as_str().unwrap().ends_with('…'));
        assert_eq!(json["lead_id"], "l-1");
        let short = payload("t", "b", None, "/x");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&short).unwrap()["body"],
            "b"
        );
    }

    #[test]
    fn browser_keys_are_checked() {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = secret.public_key().to_encoded_point(false);
        let b64 = URL_SAFE_NO_PAD.encode(point.as_bytes());
        assert!(check_p256dh(&b64).is_ok());
        assert!(check_p256dh("AAAA").is_err());
        assert!(check_auth(&URL_SAFE_NO_PAD.encode([7u8; 16])).is_ok());
        assert!(check_auth(&URL_SAFE_NO_PAD.encode([7u8; 15])).is_err());
    }
}
