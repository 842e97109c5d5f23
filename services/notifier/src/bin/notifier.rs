//! `notifier`: the notifier service binary. `notifier` (or `notifier serve`)
//! serves; `notifier migrate` applies migrations; `notifier vapid-keys`
//! prints a fresh VAPID key pair.

/// mimalloc instead of glibc malloc: 19% fewer instructions per RouteLead
/// (callgrind; see services/bench/NOTES.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    leadflow_server::cli::main_with::<
        leadflow_notifier::NotifierService,
        leadflow_notifier::NotifierCommands,
    >()
    .await
}
