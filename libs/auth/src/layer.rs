//! The tower layer that turns `authorization: Bearer <JWT>` into a [`Caller`]
//! before any handler runs.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util_lite::BoxFuture;
use tower::{Layer, Service};

use crate::TokenVerifier;

/// Paths served without a token: health checks (kubelet probes carry none)
/// and server reflection (it describes the API, not data).
pub const PUBLIC_PATH_PREFIXES: &[&str] = &["/grpc.health.v1.", "/grpc.reflection."];

/// Verifies the bearer token of every request except [`PUBLIC_PATH_PREFIXES`].
/// A request without a valid token never reaches the service; it is answered
/// UNAUTHENTICATED.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    /// Shared with every [`AuthService`] this layer builds, so its verified-token cache is too.
    verifier: Arc<TokenVerifier>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<TokenVerifier>) -> Self {
        AuthLayer { verifier }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around a gRPC router.
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    /// The gRPC router that requests with a valid token (or a public path) are passed on to.
    inner: S,
    /// Turns the `authorization` header into the [`crate::Caller`] handlers read.
    verifier: Arc<TokenVerifier>,
}

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if !PUBLIC_PATH_PREFIXES.iter().any(|p| path.starts_with(p)) {
            let header = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match self.verifier.verify_header(header) {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                }
                Err(error) => {
                    tracing::debug!(%error, path, "request refused by auth");
                    let response = tonic::Status::from(error).into_http();
                    return Box::pin(async move { Ok(response) });
                }
            }
        }
        // The standard tower dance: call the clone that was driven ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}

/// A boxed future without pulling the whole `futures` crate into the auth lib.
mod futures_util_lite {
    use std::future::Future;
    use std::pin::Pin;

    pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Caller, Mode, Role, TokenMinter};
    use std::convert::Infallible;
    use std::time::Duration;
    use tower::ServiceExt;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// Echoes the caller it was handed as a response header.
    async fn echo(
        request: http::Request<()>,
    ) -> Result<http::Response<tonic::body::Body>, Infallible> {
        let mut response = http::Response::new(tonic::body::Body::default());
        if let Some(caller) = request.extensions().get::<Caller>() {
            response
                .headers_mut()
                .insert("x-caller", caller.user_id.parse().unwrap());
        }
        Ok(response)
    }

    fn service()
    -> impl Service<http::Request<()>, Response = http::Response<tonic::body::Body>, Error = Infallible>
    {
        let verifier = TokenVerifier::new(Mode::Development)
            .with_hs256_secret(SECRET)
            .unwrap();
        AuthLayer::new(Arc::new(verifier)).layer(tower::service_fn(echo))
    }

    fn request(path: &str, auth: Option<&str>) -> http::Request<()> {
        let mut builder = http::Request::builder().uri(path);
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth);
        }
        builder.body(()).unwrap()
    }

    #[tokio::test]
    async fn a_valid_token_reaches_the_handler_as_a_caller() {
        let token = TokenMinter::hs256(SECRET, "t").mint(
            &Caller::new("u-1", "org", Role::Manager),
            Duration::from_secs(60),
        );
        let response = service()
            .oneshot(request(
                "/leadflow.leads.v1.LeadService/GetLead",
                Some(&format!("Bearer {token}")),
            ))
            .await
            .unwrap();
        assert_eq!(response.headers()["x-caller"], "u-1");
    }

    #[tokio::test]
    async fn a_missing_token_is_unauthenticated_and_never_reaches_the_handler() {
        let response = service()
            .oneshot(request("/leadflow.leads.v1.LeadService/GetLead", None))
            .await
            .unwrap();
        assert!(response.headers().get("x-caller").is_none());
        assert_eq!(response.headers()["grpc-status"], "16");
    }

    #[tokio::test]
    async fn health_checks_need_no_token() {
        let response = service()
            .oneshot(request("/grpc.health.v1.Health/Check", None))
            .await
            .unwrap();
        assert!(response.headers().get("grpc-status").is_none());
    }
}
