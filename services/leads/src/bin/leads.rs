//! `leads`: the leads service binary. `leads` (or `leads serve`) serves;
//! `leads migrate` applies database migrations and exits (for init containers).

/// mimalloc instead of glibc malloc: 19% fewer instructions per RouteLead
/// (callgrind; see services/bench/NOTES.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    leadflow_server::cli::main::<leadflow_leads::LeadsService>().await
}
