//! Calling the services: one lazy channel per service, the bearer token on
//! every request, and gRPC errors turned into one plain sentence.

use std::time::Duration;

use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::profile::Target;

/// A failed command: the sentence printed after `leadctl: `.
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// Which service a call went to, for the error sentence.
#[derive(Debug, Clone, Copy)]
pub enum Service {
    Leads,
    Routing,
    Notifier,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Leads => "the leads service",
            Service::Routing => "the routing service",
            Service::Notifier => "the notifier",
        }
    }
}

/// Connections and credentials for one command.
pub struct Api {
    pub target: Target,
    timeout: Duration,
}

impl Api {
    pub fn new(target: Target, timeout: Duration) -> Self {
        Api { target, timeout }
    }

    /// The channel to `service`. Unary calls get the command timeout; streams
    /// (`watch`) do not, so pass `streaming`.
    pub fn channel(&self, service: Service, streaming: bool) -> Result<Channel, Failure> {
        let url = self.url(service);
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|_| {
                Failure(format!(
                    "`{url}` is not a valid address for {}",
                    service.name()
                ))
            })?
            .connect_timeout(Duration::from_secs(5));
        let endpoint = if streaming {
            endpoint.http2_keep_alive_interval(Duration::from_secs(30))
        } else {
            endpoint.timeout(self.timeout)
        };
        Ok(endpoint.connect_lazy())
    }

    fn url(&self, service: Service) -> &str {
        match service {
            Service::Leads => &self.target.leads,
            Service::Routing => &self.target.routing,
            Service::Notifier => &self.target.notifier,
        }
    }

    /// `message` with the bearer token.
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Failure> {
        let token = self.target.token.as_deref().ok_or_else(|| {
            Failure(
                "no token: pass --token or --token-file, set LEADCTL_TOKEN, or pick a profile \
                 with --profile (make run writes data/leadctl.toml)"
                    .into(),
            )
        })?;
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Failure("the token contains characters a header cannot carry".into()))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }

    /// Turns a gRPC error from `service` into one sentence.
    pub fn failure(&self, service: Service, status: tonic::Status) -> Failure {
        Failure(sentence(service, self.url(service), &status))
    }
}

/// One plain sentence for a gRPC error.
pub fn sentence(service: Service, url: &str, status: &tonic::Status) -> String {
    let message = status.message().trim().trim_end_matches('.');
    let said = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    let text = match status.code() {
        Code::Unavailable => format!("cannot reach {} at {url}{said}", service.name()),
        Code::DeadlineExceeded => {
            format!("{} at {url} did not answer in time{said}", service.name())
        }
        Code::Unauthenticated => format!(
            "{} refused the token{said} (check --profile, --token or LEADCTL_TOKEN)",
            service.name()
        ),
        Code::PermissionDenied => format!("not allowed{said}"),
        Code::NotFound => format!("not found{said}"),
        Code::InvalidArgument => format!("invalid input{said}"),
        Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists => {
            if message.is_empty() {
                format!("{} refused the change", service.name())
            } else {
                message.to_owned()
            }
        }
        Code::ResourceExhausted => format!("{} is overloaded{said}; try again", service.name()),
        other => format!("{} failed ({other:?}){said}", service.name()),
    };
    format!("{text}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_one_sentence() {
        let url = "http://127.0.0.1:1";
        assert_eq!(
            sentence(
                Service::Leads,
                url,
                &tonic::Status::unavailable("tcp connect error")
            ),
            "cannot reach the leads service at http://127.0.0.1:1: tcp connect error."
        );
        assert_eq!(
            sentence(
                Service::Leads,
                url,
                &tonic::Status::invalid_argument("name: must not be empty")
            ),
            "invalid input: name: must not be empty."
        );
        assert_eq!(
            sentence(
                Service::Leads,
                url,
                &tonic::Status::failed_precondition("the lead is already assigned to ana.")
            ),
            "the lead is already assigned to ana."
        );
        assert!(!sentence(Service::Notifier, url, &tonic::Status::internal("a\nb")).is_empty());
    }
}
