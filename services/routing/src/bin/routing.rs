//! `routing`: the routing service binary. `routing` (or `routing serve`)
//! serves; `routing migrate` applies database migrations and exits.

/// mimalloc instead of glibc malloc: 19% fewer instructions per RouteLead
/// (callgrind; see services/bench/NOTES.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    leadflow_server::cli::main::<leadflow_routing::RoutingService>().await
}
