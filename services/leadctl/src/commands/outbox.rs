//! `leadctl outbox …`: the leads service's dead letters (events to routing
//! or the notifier that kept failing), and putting them back in line.

use clap::Subcommand;
use leadflow_proto::leads::v1 as pb;
use leadflow_proto::leads::v1::operations_service_client::OperationsServiceClient;

use crate::client::{Api, Service};
use crate::output::{self, Format, Table, time};

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// Dead letters, oldest first.
    Dead {
        #[arg(long, default_value_t = 100)]
        limit: i32,
    },
    /// Retry dead letters: these ids, or all of them with --all.
    Retry {
        ids: Vec<String>,
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

pub async fn run(api: &Api, format: Format, command: OutboxCommand) -> anyhow::Result<()> {
    let mut operations = OperationsServiceClient::new(api.channel(Service::Leads, false)?);
    let fail = |status| api.failure(Service::Leads, status);
    match command {
        OutboxCommand::Dead { limit } => {
            let dead = operations
                .list_dead_letters(api.request(pb::ListDeadLettersRequest { page_size: limit })?)
                .await
                .map_err(fail)?
                .into_inner();
            match format {
                Format::Json => output::print_json(&dead),
                Format::Id => dead.dead_letters.iter().for_each(|d| println!("{}", d.id)),
                Format::Table => {
                    let mut table =
                        Table::new(&["ID", "KIND", "ATTEMPTS", "CREATED", "LAST ERROR"]);
                    for d in &dead.dead_letters {
                        table.row(vec![
                            d.id.clone(),
                            d.kind.clone(),
                            d.attempts.to_string(),
                            time(d.created_at.as_ref()),
                            d.last_error.clone(),
                        ]);
                    }
                    table.print();
                    eprintln!("{} dead letter(s)", dead.dead_letters.len());
                }
            }
        }
        OutboxCommand::Retry { ids, all } => {
            if ids.is_empty() && !all {
                anyhow::bail!("give dead-letter ids, or --all to retry every one");
            }
            let retried = operations
                .retry_dead_letters(api.request(pb::RetryDeadLettersRequest { ids })?)
                .await
                .map_err(fail)?
                .into_inner();
            match format {
                Format::Json => output::print_json(&retried),
                _ => println!("{} dead letter(s) put back in line", retried.retried),
            }
        }
    }
    Ok(())
}
