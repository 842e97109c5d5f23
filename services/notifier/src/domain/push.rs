//! Web Push subscriptions: which endpoints the notifier may ever POST to,
//! what valid browser keys look like, and payloads that always fit.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

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

/// The most plaintext the web-push crate encrypts: `HttpEce::encrypt` refuses
/// more than 3,052 bytes (PayloadTooLarge), well below RFC 8291's 3,993 for a
/// 4,096-byte record. Payloads are fitted to what the library enforces, so
/// an accepted notification never fails at the last step.
pub const MAX_PLAINTEXT_BYTES: usize = 3_052;

/// What may be subscribed to.
#[derive(Debug, Clone)]
pub struct PushPolicy {
    /// Push-service hosts an endpoint may point at (each also matches its subdomains).
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

/// Browsers hand their keys out as base64url without padding, but a web app
/// that read them with `btoa` sends the standard alphabet, often padded.
/// Any of these decodes.
fn decode_b64(value: &str) -> Option<Vec<u8>> {
    let bare = value.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(bare)
        .ok()
        .or_else(|| URL_SAFE.decode(value.trim()).ok())
        .or_else(|| STANDARD.decode(value.trim()).ok())
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(bare)
                .ok()
        })
}

/// A key in the one form the web-push crate decodes: base64url without
/// padding. Keys are stored in this form; one stored before it was enforced
/// is normalised again at send time.
pub fn normalise_key(value: &str) -> Option<String> {
    decode_b64(value).map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
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
        if endpoint.len() > 2_048 {
            return Err(refuse("must be at most 2,048 bytes"));
        }
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

    /// Checks a whole subscription, the endpoint first, then the keys.
    pub fn check_subscription(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<NewSubscription, NotifierError> {
        Ok(NewSubscription {
            endpoint: self.check_endpoint(endpoint)?,
            p256dh: check_p256dh(p256dh)?,
            auth: check_auth(auth)?,
        })
    }
}

/// A validated push subscription, normalised, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// The push service URL, on the allowlist.
    pub endpoint: String,
    /// The browser's public key, base64url without padding.
    pub p256dh: String,
    /// The browser's auth secret, base64url without padding.
    pub auth: String,
}

/// A browser's P-256 public key: 65 bytes, uncompressed (0x04 …), base64.
/// Returns it normalised (base64url without padding).
pub fn check_p256dh(value: &str) -> Result<String, NotifierError> {
    match decode_b64(value) {
        Some(bytes)
            if bytes.len() == 65
                && bytes[0] == 0x04
                && p256::PublicKey::from_sec1_bytes(&bytes).is_ok() =>
        {
            Ok(URL_SAFE_NO_PAD.encode(bytes))
        }
        _ => Err(NotifierError::invalid(
            "p256dh",
            "must be a 65-byte uncompressed P-256 point, base64url",
        )),
    }
}

/// The browser's auth secret: 16 bytes, base64. Returns it normalised.
pub fn check_auth(value: &str) -> Result<String, NotifierError> {
    match decode_b64(value) {
        Some(bytes) if bytes.len() == 16 => Ok(URL_SAFE_NO_PAD.encode(bytes)),
        _ => Err(NotifierError::invalid(
            "auth",
            "must be 16 bytes, base64url",
        )),
    }
}

/// The JSON a service worker receives: `{title, body, lead_id, url}`, fitted
/// to [`MAX_PLAINTEXT_BYTES`]: the body is shortened (on a grapheme-cluster
/// boundary, with an ellipsis), then, if even that is not enough, the title.
/// Never oversize.
pub fn payload(title: &str, body: &str, lead_id: Option<&str>, url: &str) -> Vec<u8> {
    use unicode_segmentation::UnicodeSegmentation;
    let render = |title: &str, body: &str| {
        serde_json::to_vec(
            &serde_json::json!({"title": title, "body": body, "lead_id": lead_id, "url": url}),
        )
        .expect("JSON of strings")
    };
    // The longest prefix of `text` (whole graphemes, plus an ellipsis when
    // cut) for which `fits` holds; JSON escaping makes the cost per grapheme
    // uneven, so search on the rendered size.
    let shorten = |text: &str, fits: &dyn Fn(&str) -> bool| -> Option<String> {
        if fits(text) {
            return Some(text.to_owned());
        }
        let ends: Vec<usize> = text.grapheme_indices(true).map(|(at, _)| at).collect();
        let cut = |n: usize| {
            format!(
                "{}…",
                text[..ends.get(n).copied().unwrap_or(text.len())].trim_end()
            )
        };
        let (mut lo, mut hi) = (0usize, ends.len());
        if !fits(&cut(0)) {
            return None;
        }
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if fits(&cut(mid)) {
                lo = mid
            } else {
                hi = mid - 1
            }
        }
        Some(cut(lo))
    };
    let fits = |t: &str, b: &str| render(t, b).len() <= MAX_PLAINTEXT_BYTES;
    if let Some(body) = shorten(body, &|b| fits(title, b)) {
        return render(title, &body);
    }
    // Even "…" as the body does not fit: the title is the problem.
    let title = shorten(title, &|t| fits(t, "")).unwrap_or_default();
    let out = render(&title, "");
    debug_assert!(out.len() <= MAX_PLAINTEXT_BYTES);
    out
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
        assert!(p.len() > MAX_PLAINTEXT_BYTES - 8, "as much as fits is kept");
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
    fn payloads_are_within_what_the_library_encrypts() {
        // Five 200-character CJK names in a batch body: ~3 kB of UTF-8 text.
        let names = vec![format!("{} (Website)", "山".repeat(200)); 5].join(", ");
        let flags = "🇫🇷".repeat(2_000);
        for (title, body) in [
            ("7 leads assigned to you", names.as_str()),
            ("t", flags.as_str()),
            (flags.as_str(), "b"),
        ] {
            let p = payload(title, body, None, "/leads?batch=b-1");
            assert!(p.len() <= MAX_PLAINTEXT_BYTES, "{}", p.len());
            let json: serde_json::Value = serde_json::from_slice(&p).unwrap();
            let text = json["body"].as_str().unwrap().to_owned() + json["title"].as_str().unwrap();
            assert!(!text.contains('\u{FFFD}'));
            // No flag is cut in half: the regional indicators come in pairs.
            let indicators = text
                .chars()
                .filter(|c| ('\u{1F1E6}'..='\u{1F1FF}').contains(c))
                .count();
            assert_eq!(indicators % 2, 0);
            // What web-push encrypts, it accepts.
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            let browser = p256::SecretKey::random(&mut rand::rngs::OsRng);
            let p256dh = URL_SAFE_NO_PAD.encode(browser.public_key().to_encoded_point(false));
            let info = web_push::SubscriptionInfo::new(
                "https://push.example.com/x",
                &p256dh,
                &URL_SAFE_NO_PAD.encode([9u8; 16]),
            );
            let mut builder = web_push::WebPushMessageBuilder::new(&info);
            builder.set_payload(web_push::ContentEncoding::Aes128Gcm, &p);
            builder.build().expect("the library encrypts it");
        }
    }

    #[test]
    fn padded_and_standard_base64_keys_are_normalised() {
        let bytes = [0xfbu8; 16];
        let canonical = URL_SAFE_NO_PAD.encode(bytes);
        for sent in [
            URL_SAFE.encode(bytes),
            STANDARD.encode(bytes),
            canonical.clone(),
        ] {
            assert_eq!(check_auth(&sent).unwrap(), canonical, "{sent}");
            assert_eq!(normalise_key(&sent).unwrap(), canonical);
        }
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
