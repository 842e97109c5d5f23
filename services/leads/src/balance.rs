//! Client-side load balancing for the leads service's calls to routing and
//! the notifier.
//!
//! gRPC multiplexes every call over one long-lived HTTP/2 connection. Behind
//! a Kubernetes ClusterIP Service that connection is pinned to one pod, so
//! every call from a leads replica would hit the same routing pod however
//! many there are. Instead, the peers are headless Services: DNS answers with
//! every ready pod's address, this module keeps one connection per address
//! and tower's power-of-two-choices balancer spreads calls over them. DNS is
//! asked again every `refresh`, so new pods get traffic and terminating ones
//! (removed from DNS while they drain) stop getting it.
//!
//! An IP literal (`http://127.0.0.1:50052`) needs no balancing and gets a
//! plain channel.

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};

/// Looks a host up: every address it has now.
pub type Resolve = Arc<
    dyn Fn(String, u16) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The system resolver (getaddrinfo: /etc/hosts, resolv.conf search domains).
pub fn system_resolver() -> Resolve {
    Arc::new(|host, port| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    })
}

/// Most endpoint changes queued between the resolver and the balancer.
const CHANGES_BUFFER: usize = 64;

/// A channel to `url`: balanced over every address its host resolves to,
/// re-resolved every `refresh`. `configure` sets timeouts and keepalive on
/// each endpoint.
pub fn balanced_channel(
    url: &str,
    refresh: Duration,
    resolve: Resolve,
    configure: impl Fn(Endpoint) -> Endpoint + Send + 'static,
) -> anyhow::Result<Channel> {
    let uri: http::Uri = url.parse()?;
    let host = uri
        .host()
        .ok_or_else(|| anyhow::anyhow!("{url}: no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let scheme = uri.scheme_str().unwrap_or("http").to_owned();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    if host.parse::<IpAddr>().is_ok() || tokio::runtime::Handle::try_current().is_err() {
        return Ok(configure(Endpoint::from_shared(url.to_owned())?).connect_lazy());
    }
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(CHANGES_BUFFER);
    tokio::spawn(async move {
        let mut current: HashSet<SocketAddr> = HashSet::new();
        loop {
            match resolve(host.clone(), port).await {
                Ok(found) if !found.is_empty() => {
                    let found: HashSet<SocketAddr> = found.into_iter().collect();
                    for gone in current.difference(&found) {
                        if changes.send(Change::Remove(*gone)).await.is_err() {
                            return; // The channel was dropped.
                        }
                    }
                    for new in found.difference(&current) {
                        let address = match new {
                            SocketAddr::V4(a) => format!("{scheme}://{a}"),
                            SocketAddr::V6(a) => format!("{scheme}://[{}]:{}", a.ip(), a.port()),
                        };
                        let Ok(endpoint) = Endpoint::from_shared(address) else {
                            continue;
                        };
                        if changes
                            .send(Change::Insert(*new, configure(endpoint)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    if found != current {
                        tracing::debug!(%host, addresses = found.len(), "peer addresses changed");
                    }
                    current = found;
                }
                // Keep what we have: a DNS hiccup must not empty the pool.
                Ok(_) => {
                    tracing::warn!(%host, "peer resolved to no address; keeping the last ones")
                }
                Err(error) => {
                    tracing::warn!(%host, %error, "resolving a peer failed; keeping the last addresses")
                }
            }
            if changes.is_closed() {
                return;
            }
            tokio::time::sleep(refresh).await;
        }
    });
    Ok(channel)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use leadflow_testkit::TestServer;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    /// A gRPC server whose health service knows only `name`: asking for
    /// `name` succeeds there and is NOT_FOUND elsewhere, so a caller can tell
    /// which server answered.
    async fn named_server(name: &'static str) -> TestServer {
        TestServer::spawn(move |listener, shutdown| async move {
            let (reporter, health) = tonic_health::server::health_reporter();
            reporter
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    shutdown,
                )
                .await
                .map_err(anyhow::Error::from)
        })
        .await
    }

    async fn answered_by(client: &mut HealthClient<Channel>, names: &[&str]) -> Vec<String> {
        let mut answers = Vec::new();
        for _ in 0..60 {
            for name in names {
                let asked = HealthCheckRequest {
                    service: (*name).to_owned(),
                };
                if client.check(asked).await.is_ok() {
                    answers.push((*name).to_owned());
                }
            }
        }
        answers
    }

    #[tokio::test]
    async fn calls_spread_over_every_resolved_address_and_follow_dns_changes() {
        let a = named_server("a").await;
        let b = named_server("b").await;
        let addresses = Arc::new(Mutex::new(vec![a.addr, b.addr]));
        let resolve: Resolve = {
            let addresses = addresses.clone();
            Arc::new(move |host, _port| {
                assert_eq!(
                    host, "routing.leadflow.svc",
                    "the name is what gets resolved"
                );
                let found = addresses.lock().unwrap().clone();
                Box::pin(async move { Ok(found) })
            })
        };
        let channel = balanced_channel(
            "http://routing.leadflow.svc:50052",
            Duration::from_millis(50),
            resolve,
            |e| e.connect_timeout(Duration::from_secs(1)),
        )
        .unwrap();
        let mut client = HealthClient::new(channel);

        // Both pods get calls (one pinned connection would give one name only).
        let answers = answered_by(&mut client, &["a", "b"]).await;
        let from_a = answers.iter().filter(|n| *n == "a").count();
        let from_b = answers.iter().filter(|n| *n == "b").count();
        assert!(
            from_a >= 10 && from_b >= 10,
            "a: {from_a}, b: {from_b} of 60"
        );

        // DNS drops b (its pod is terminating): after a refresh, only a answers.
        *addresses.lock().unwrap() = vec![a.addr];
        tokio::time::sleep(Duration::from_millis(300)).await;
        let answers = answered_by(&mut client, &["a", "b"]).await;
        assert!(
            answers.iter().all(|n| n == "a"),
            "calls still reach b: {answers:?}"
        );
        assert_eq!(answers.len(), 60);

        // A DNS failure keeps the last addresses instead of emptying the pool.
        let flaky = Arc::new(Mutex::new(0u32));
        let resolve: Resolve = {
            let flaky = flaky.clone();
            let a = a.addr;
            Arc::new(move |_, _| {
                let mut calls = flaky.lock().unwrap();
                *calls += 1;
                let first = *calls == 1;
                Box::pin(async move {
                    if first {
                        Ok(vec![a])
                    } else {
                        Err(std::io::Error::other("SERVFAIL"))
                    }
                })
            })
        };
        let channel = balanced_channel(
            "http://routing:1",
            Duration::from_millis(20),
            resolve,
            |e| e,
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(*flaky.lock().unwrap() > 2, "it kept re-resolving");
        let mut client = HealthClient::new(channel);
        assert_eq!(answered_by(&mut client, &["a"]).await.len(), 60);
        a.stop().await.unwrap();
        b.stop().await.unwrap();
    }

    #[tokio::test]
    async fn an_ip_literal_gets_a_plain_channel() {
        let a = named_server("a").await;
        let resolve: Resolve = Arc::new(|host, _| panic!("{host} must not be resolved"));
        let channel = balanced_channel(
            &format!("http://{}", a.addr),
            Duration::from_millis(10),
            resolve,
            |e| e,
        )
        .unwrap();
        let mut client = HealthClient::new(channel);
        assert_eq!(answered_by(&mut client, &["a"]).await.len(), 60);
        a.stop().await.unwrap();
    }
}
