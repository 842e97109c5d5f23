//! `leadctl outbox …`: the leads service's dead letters (events to routing
//! or the notifier that kept failing), and putting them back in line.

use clap::Subcommand;
use leadflow_proto::leads::v1 as pb;
use leadflow_proto::leads::v1::operations_service_client::OperationsServiceClient;

use crate::client::{Api, Service};
use crate::output::{self, Format, time};

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// Dead letters, oldest first.
    Dead {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i32,
    },
    /// Retry dead letters: these ids, or all of them with --all.
    Retry {
        /// The dead letters to retry.
        ids: Vec<String>,
        /// Retry every dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

/// The generated client of the leads service's operations API.
type OperationsClient = OperationsServiceClient<tonic::transport::Channel>;

/// Runs one `outbox` command.
pub async fn run(api: &Api, format: Format, command: OutboxCommand) -> anyhow::Result<()> {
    let mut operations = api.client(Service::Leads, false, OperationsClient::new)?;
    match command {
        OutboxCommand::Dead { limit } => {
            let request = pb::ListDeadLettersRequest { page_size: limit };
            let dead = operations
                .call(request, OperationsClient::list_dead_letters)
                .await?;
            let ids = dead.dead_letters.iter().map(|d| &d.id);
            output::print(format, &dead, ids, || {
                let header = ["ID", "KIND", "ATTEMPTS", "CREATED", "LAST ERROR"];
                output::print_table(&header, dead.dead_letters.iter().map(dead_letter_row));
                eprintln!("{} dead letter(s)", dead.dead_letters.len());
            });
        }
        OutboxCommand::Retry { ids, all } => {
            if ids.is_empty() && !all {
                anyhow::bail!("give dead-letter ids, or --all to retry every one");
            }
            let request = pb::RetryDeadLettersRequest { ids };
            let retried = operations
                .call(request, OperationsClient::retry_dead_letters)
                .await?;
            output::print_summary(format, &retried, || {
                format!("{} dead letter(s) put back in line", retried.retried)
            });
        }
    }
    Ok(())
}

/// A dead letter as one row of `outbox dead`.
fn dead_letter_row(d: &pb::DeadLetter) -> Vec<String> {
    vec![
        d.id.clone(),
        d.kind.clone(),
        d.attempts.to_string(),
        time(d.created_at.as_ref()),
        d.last_error.clone(),
    ]
}
