//! A Web Push service for tests, speaking the real protocol: it checks the
//! VAPID token (RFC 8292: ES256, `aud` = the endpoint's origin, `exp` at most
//! 24 h away), decrypts the aes128gcm body (RFC 8291) with the subscription's
//! private key, and answers with scripted statuses (201 by default).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A browser subscription the test hands to AddPushSubscription.
#[derive(Debug, Clone)]
pub struct TestSubscription {
    pub id: String,
    pub endpoint: String,
    /// base64url, as a browser sends them.
    pub p256dh: String,
    pub auth: String,
}

/// What the push service accepted.
#[derive(Debug, Clone)]
pub struct ReceivedPush {
    pub subscription: String,
    /// The decrypted payload.
    pub json: serde_json::Value,
    pub ttl: Option<String>,
    pub urgency: Option<String>,
    pub at: Instant,
}

/// A subscription's secrets, as only the browser holds them.
#[derive(Clone)]
struct BrowserKeys {
    private_d: Vec<u8>,
    public_point: Vec<u8>,
    auth: Vec<u8>,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, BrowserKeys>,
    /// Scripted answers per subscription: (status, Retry-After seconds).
    answers: HashMap<String, VecDeque<(u16, Option<u64>)>>,
    received: Vec<ReceivedPush>,
    /// Every request (answered or refused) with its status.
    requests: Vec<(String, u16, Instant)>,
    /// Reasons requests were refused (bad VAPID, undecryptable body).
    rejections: Vec<String>,
    /// How long to sit on the next pushes to a subscription before answering
    /// (a slow push service, so a send is in flight when a test kills its
    /// sender).
    holds: HashMap<String, VecDeque<std::time::Duration>>,
    /// When each push request arrived, before any hold.
    arrivals: Vec<(String, Instant)>,
}

/// A push service on a loopback port.
pub struct PushService {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: Option<JoinHandle<()>>,
}

impl PushService {
    pub async fn start() -> PushService {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), port, request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        PushService {
            port,
            state,
            task: Some(task),
        }
    }

    /// A new browser subscription with fresh keys.
    pub fn subscribe(&self) -> TestSubscription {
        let (secret, public) = {
            let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
            let public = secret
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec();
            (secret.to_bytes().to_vec(), public)
        };
        let auth: [u8; 16] = rand::random();
        let id = format!("sub-{}", uuid::Uuid::new_v4().simple());
        self.state.lock().unwrap().keys.insert(
            id.clone(),
            BrowserKeys {
                private_d: secret,
                public_point: public.clone(),
                auth: auth.to_vec(),
            },
        );
        TestSubscription {
            endpoint: format!("http://127.0.0.1:{}/push/{id}", self.port),
            id,
            p256dh: URL_SAFE_NO_PAD.encode(&public),
            auth: URL_SAFE_NO_PAD.encode(auth),
        }
    }

    /// Answers the next pushes to `subscription` with these statuses.
    pub fn answer_next(&self, subscription: &TestSubscription, answers: &[(u16, Option<u64>)]) {
        self.state
            .lock()
            .unwrap()
            .answers
            .entry(subscription.id.clone())
            .or_default()
            .extend(answers);
    }

    /// Holds the next push to `subscription` for `hold` before answering.
    pub fn hold_next(&self, subscription: &TestSubscription, hold: std::time::Duration) {
        self.state
            .lock()
            .unwrap()
            .holds
            .entry(subscription.id.clone())
            .or_default()
            .push_back(hold);
    }

    /// When each push request arrived (held ones included).
    pub fn arrivals(&self) -> Vec<(String, Instant)> {
        self.state.lock().unwrap().arrivals.clone()
    }

    pub fn received(&self) -> Vec<ReceivedPush> {
        self.state.lock().unwrap().received.clone()
    }

    /// (subscription, status, when) of every request.
    pub fn requests(&self) -> Vec<(String, u16, Instant)> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn rejections(&self) -> Vec<String> {
        self.state.lock().unwrap().rejections.clone()
    }

    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedPush> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for PushService {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn respond(status: u16, retry_after: Option<u64>) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::builder().status(status);
    if let Some(secs) = retry_after {
        response = response.header("Retry-After", secs.to_string());
    }
    response.body(Full::new(Bytes::new())).expect("response")
}

/// Checks `Authorization: vapid t=<jwt>, k=<key>` as a push service must.
fn check_vapid(header: &str, port: u16) -> Result<(), String> {
    let rest = header
        .strip_prefix("vapid ")
        .ok_or("not a vapid authorization")?;
    let mut token = None;
    let mut key = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(t) = part.strip_prefix("t=") {
            token = Some(t);
        } else if let Some(k) = part.strip_prefix("k=") {
            key = Some(k);
        }
    }
    let (token, key) = (token.ok_or("no t=")?, key.ok_or("no k=")?);
    let point = URL_SAFE_NO_PAD
        .decode(key)
        .map_err(|_| "k is not base64url")?;
    if point.len() != 65 || point[0] != 4 {
        return Err("k is not an uncompressed P-256 point".into());
    }
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
    .map_err(|e| format!("k: {e}"))?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("token header: {e}"))?;
    if header.alg != jsonwebtoken::Algorithm::ES256 {
        return Err(format!("alg {:?} is not ES256", header.alg));
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    let origin = format!("http://127.0.0.1:{port}");
    validation.set_audience(&[origin.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
        .map_err(|e| format!("token: {e}"))?
        .claims;
    let exp = claims["exp"].as_u64().ok_or("no exp")?;
    let now = jsonwebtoken::get_current_timestamp();
    if exp > now + 24 * 3600 {
        return Err("exp is more than 24 hours away".into());
    }
    if claims.get("sub").and_then(|s| s.as_str()).is_none() {
        return Err("no sub claim".into());
    }
    Ok(())
}

async fn handle(
    state: Arc<Mutex<State>>,
    port: u16,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let id = request.uri().path().trim_start_matches("/push/").to_owned();
    let hold = {
        let mut s = state.lock().unwrap();
        s.arrivals.push((id.clone(), Instant::now()));
        s.holds.get_mut(&id).and_then(|q| q.pop_front())
    };
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (auth, ttl, urgency, encoding) = (
        header("authorization"),
        header("ttl"),
        header("urgency"),
        header("content-encoding"),
    );
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let refuse = |why: String, status: u16| {
        let mut s = state.lock().unwrap();
        s.rejections.push(why);
        s.requests.push((id.clone(), status, Instant::now()));
        Ok(respond(status, None))
    };
    let Some(keys) = state.lock().unwrap().keys.get(&id).cloned() else {
        return refuse(format!("{id}: unknown subscription"), 404);
    };
    if let Err(why) = auth
        .as_deref()
        .ok_or_else(|| "no authorization".to_owned())
        .and_then(|a| check_vapid(a, port))
    {
        return refuse(format!("{id}: VAPID: {why}"), 401);
    }
    if encoding.as_deref() != Some("aes128gcm") {
        return refuse(format!("{id}: content-encoding {encoding:?}"), 400);
    }
    if body.len() > 4096 {
        return refuse(format!("{id}: body of {} bytes", body.len()), 413);
    }
    let components = ece::EcKeyComponents::new(keys.private_d.clone(), keys.public_point.clone());
    let plaintext = match ece::decrypt(&components, &keys.auth, &body) {
        Ok(p) => p,
        Err(e) => return refuse(format!("{id}: decrypt: {e}"), 400),
    };
    let json: serde_json::Value = match serde_json::from_slice(&plaintext) {
        Ok(j) => j,
        Err(e) => return refuse(format!("{id}: payload is not JSON: {e}"), 400),
    };
    let mut s = state.lock().unwrap();
    let (status, retry_after) = s
        .answers
        .get_mut(&id)
        .and_then(|q| q.pop_front())
        .unwrap_or((201, None));
    s.requests.push((id.clone(), status, Instant::now()));
    if (200..300).contains(&status) {
        s.received.push(ReceivedPush {
            subscription: id,
            json,
            ttl,
            urgency,
            at: Instant::now(),
        });
    }
    Ok(respond(status, retry_after))
}
