//! Calling the services: one lazy channel per service, the bearer token on
//! every request, and gRPC errors turned into one plain sentence.

use std::time::Duration;

use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::profile::Target;

/// A failed command: the sentence printed after `leadctl: `.
#[derive(Debug)]
pub struct Failure(
    /// The sentence, already worded for people.
    pub String,
);

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
    /// Where each service is and the token (read for `--owner me`).
    pub target: Target,
    /// How long one unary call may take (`--timeout-secs`).
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

    /// A client of `service` over [`Api::channel`]; `new` is the generated
    /// client's constructor, e.g. `LeadServiceClient::new`.
    pub fn client<C>(
        &self,
        service: Service,
        streaming: bool,
        new: fn(Channel) -> C,
    ) -> Result<Client<'_, C>, Failure> {
        Ok(Client {
            api: self,
            service,
            raw: new(self.channel(service, streaming)?),
        })
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

/// A generated client with what each call needs: the token on the request,
/// and the service's name in the sentence when the call fails.
pub struct Client<'a, C> {
    /// The token, and the address the error sentence names.
    api: &'a Api,
    /// Which service `raw` talks to.
    service: Service,
    /// The generated tonic client, for calls that handle errors themselves.
    pub raw: C,
}

impl<'a, C> Client<'a, C> {
    /// Sends `message` with the token through `method` (a method of the
    /// generated client, e.g. `LeadServiceClient::get_lead`) and returns the
    /// answer, or the gRPC error as one sentence.
    pub async fn call<'c, T, R, F>(
        &'c mut self,
        message: T,
        method: impl FnOnce(&'c mut C, tonic::Request<T>) -> F,
    ) -> Result<R, Failure>
    where
        F: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let (api, service) = (self.api, self.service);
        let request = api.request(message)?;
        method(&mut self.raw, request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| api.failure(service, status))
    }

    /// The connections and credentials this client came from.
    pub fn api(&self) -> &'a Api {
        self.api
    }

    /// The sentence for a gRPC error from this client's service.
    pub fn failure(&self, status: tonic::Status) -> Failure {
        self.api.failure(self.service, status)
    }

    /// `message` with the bearer token, for a call made through `raw`.
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Failure> {
        self.api.request(message)
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
