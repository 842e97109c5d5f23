//! Web Push (RFC 8030/8291/8292) with the web-push crate for VAPID and
//! aes128gcm encryption, sent through our own hyper client: it has timeouts,
//! reads Retry-After, and reuses connections (the crate's clients do none of
//! these).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use web_push::{
    ContentEncoding, PartialVapidSignatureBuilder, SubscriptionInfo, Urgency,
    VapidSignatureBuilder, WebPushMessageBuilder,
};

/// What the push service said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum PushResult {
    Delivered,
    /// 404/410: the subscription is gone for good.
    Gone,
    /// 429, 5xx or a network error: try again (after `retry_after` if given).
    Retry {
        /// What went wrong, for the attempt log.
        error: String,
        /// The push service's Retry-After, which wins over our backoff.
        retry_after: Option<Duration>,
    },
    /// Any other refusal.
    Failed(String),
}

/// Generates a VAPID key pair: (private, public), both base64url without
/// padding; the public key is the 65-byte uncompressed point browsers expect.
pub fn generate_vapid_keys() -> (String, String) {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let public = secret.public_key().to_encoded_point(false);
    (
        URL_SAFE_NO_PAD.encode(secret.to_bytes()),
        URL_SAFE_NO_PAD.encode(public.as_bytes()),
    )
}

/// The origin of a URL (RFC 6454): scheme, host, and the port if not the default.
fn origin(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let host = uri.host()?;
    Some(match (scheme, uri.port_u16()) {
        ("https", Some(443)) | ("http", Some(80)) | (_, None) => format!("{scheme}://{host}"),
        (_, Some(port)) => format!("{scheme}://{host}:{port}"),
    })
}

/// Sends Web Push messages signed with the deployment's VAPID key.
pub struct WebPush {
    /// Our own pooled HTTPS client, with timeouts the crate's clients lack.
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Signs each request with the deployment's VAPID key.
    vapid: PartialVapidSignatureBuilder,
    /// The VAPID `sub` claim: how push services reach the operator.
    contact: String,
    /// The VAPID public key browsers subscribe with (GetVapidPublicKey).
    public_key: String,
    /// Bounds one send, so a stuck push service cannot hold a worker.
    timeout: Duration,
    /// How long a push service keeps a message for an offline browser, in seconds.
    ttl: u32,
}

impl std::fmt::Debug for WebPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key never prints.
        f.debug_struct("WebPush")
            .field("public_key", &self.public_key)
            .field("contact", &self.contact)
            .finish_non_exhaustive()
    }
}

impl WebPush {
    /// `private_key`: the raw 32-byte P-256 key, base64url.
    pub fn new(
        private_key: &str,
        contact: &str,
        timeout: Duration,
        ttl: u32,
    ) -> anyhow::Result<WebPush> {
        let vapid = VapidSignatureBuilder::from_base64_no_sub(private_key.trim()).map_err(|e| {
            anyhow::anyhow!("NOTIFIER_VAPID_PRIVATE_KEY is not a valid VAPID key: {e}")
        })?;
        let public_key = URL_SAFE_NO_PAD.encode(vapid.get_public_key());
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(WebPush {
            client,
            vapid,
            contact: contact.to_owned(),
            public_key,
            timeout,
            ttl,
        })
    }

    /// The key for the browser's `PushManager.subscribe`.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// Encrypts `payload` for the subscription and posts it.
    pub async fn send(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        payload: &[u8],
    ) -> PushResult {
        // Keys stored before AddPushSubscription normalised them may be
        // padded; the crate decodes only unpadded base64url.
        let (Some(p256dh), Some(auth)) = (
            crate::domain::push::normalise_key(p256dh),
            crate::domain::push::normalise_key(auth),
        ) else {
            return PushResult::Failed("the subscription's keys are not base64".into());
        };
        let info = SubscriptionInfo::new(endpoint, &p256dh, &auth);
        let Some(audience) = origin(endpoint) else {
            return PushResult::Failed("the endpoint is not a URL".into());
        };
        let message = (|| {
            let mut signature = self.vapid.clone().add_sub_info(&info);
            signature.add_claim("sub", self.contact.as_str());
            // RFC 8292: `aud` is the endpoint's origin. The crate would drop
            // a non-default port from it; give it explicitly.
            signature.add_claim("aud", audience.as_str());
            let mut builder = WebPushMessageBuilder::new(&info);
            builder.set_payload(ContentEncoding::Aes128Gcm, payload);
            builder.set_ttl(self.ttl);
            builder.set_urgency(Urgency::High);
            builder.set_vapid_signature(signature.build()?);
            builder.build()
        })();
        let message = match message {
            Ok(m) => m,
            Err(e) => return PushResult::Failed(format!("building the message: {e}")),
        };
        // web-push speaks http 0.2; move the request over to http 1.
        let old: http02::Request<Vec<u8>> = web_push::request_builder::build_request(message);
        let (parts, body) = old.into_parts();
        let mut request = http::Request::builder()
            .method(parts.method.as_str())
            .uri(parts.uri.to_string());
        for (name, value) in &parts.headers {
            request = request.header(name.as_str(), value.as_bytes());
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(r) => r,
            Err(e) => return PushResult::Failed(format!("building the request: {e}")),
        };
        let response = match tokio::time::timeout(self.timeout, self.client.request(request)).await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return PushResult::Retry {
                    error: format!("push service unreachable: {e}"),
                    retry_after: None,
                };
            }
            Err(_) => {
                return PushResult::Retry {
                    error: format!("no answer within {:?}", self.timeout),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = tokio::time::timeout(self.timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(|b| b.ok())
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default();
        match status.as_u16() {
            200..=299 => PushResult::Delivered,
            404 | 410 => PushResult::Gone,
            429 | 500..=599 => PushResult::Retry {
                error: format!("push service answered {status}"),
                retry_after,
            },
            code => {
                let detail = http02::StatusCode::from_u16(code)
                    .ok()
                    .and_then(|s| web_push::request_builder::parse_response(s, body).err())
                    .map_or_else(|| status.to_string(), |e| e.to_string());
                PushResult::Failed(format!("push service refused ({status}): {detail}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn the_vapid_audience_is_the_endpoint_origin() {
        assert_eq!(
            origin("https://fcm.googleapis.com/fcm/send/x").as_deref(),
            Some("https://fcm.googleapis.com")
        );
        assert_eq!(
            origin("https://push.example.com:443/x").as_deref(),
            Some("https://push.example.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/push/1").as_deref(),
            Some("http://127.0.0.1:8080")
        );
    }
}
