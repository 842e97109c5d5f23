//! `leadctl notifications …`: the caller's in-app bell: list, watch live,
//! mark read.

use clap::Subcommand;
use leadflow_proto::notifier::v1 as pb;
use leadflow_proto::notifier::v1::notification_event::Event;
use leadflow_proto::notifier::v1::notifier_service_client::NotifierServiceClient;

use crate::client::{Api, Service};
use crate::output::{self, Format, Table, enum_name, time};

#[derive(Subcommand, Debug)]
pub enum NotificationsCommand {
    /// The newest notifications first.
    List {
        /// Only unread ones.
        #[arg(long)]
        unread: bool,
        #[arg(long, default_value_t = 20)]
        limit: i32,
    },
    /// Print the bell live: each new notification and the unread count, until
    /// Ctrl-C (or --count notifications).
    Watch {
        /// Resume after this notification id (newer ones are printed first).
        #[arg(long, default_value = "")]
        after_id: String,
        /// Stop after this many notifications.
        #[arg(long)]
        count: Option<usize>,
    },
    /// Mark notifications read: these ids, or all with --all.
    Read {
        ids: Vec<String>,
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

pub async fn run(api: &Api, format: Format, command: NotificationsCommand) -> anyhow::Result<()> {
    let fail = |status| api.failure(Service::Notifier, status);
    match command {
        NotificationsCommand::List { unread, limit } => {
            let mut notifier = NotifierServiceClient::new(api.channel(Service::Notifier, false)?);
            let list = notifier
                .list_notifications(api.request(pb::ListNotificationsRequest {
                    page_size: limit,
                    page_token: String::new(),
                    unread_only: unread,
                })?)
                .await
                .map_err(fail)?
                .into_inner();
            let count = notifier
                .get_unread_count(api.request(pb::GetUnreadCountRequest {})?)
                .await
                .map_err(fail)?
                .into_inner()
                .count;
            match format {
                Format::Json => output::print_json(&list),
                Format::Id => list.notifications.iter().for_each(|n| println!("{}", n.id)),
                Format::Table => {
                    let mut table = Table::new(&["ID", "TIME", "KIND", "READ", "TITLE"]);
                    for n in &list.notifications {
                        table.row(row(n));
                    }
                    table.print();
                    eprintln!("{count} unread");
                }
            }
        }
        NotificationsCommand::Watch { after_id, count } => {
            let mut notifier = NotifierServiceClient::new(api.channel(Service::Notifier, true)?);
            let mut stream = notifier
                .watch_notifications(api.request(pb::WatchNotificationsRequest { after_id })?)
                .await
                .map_err(fail)?
                .into_inner();
            let mut seen = 0;
            if format == Format::Table {
                eprintln!("watching the bell (Ctrl-C to stop)");
            }
            while count.is_none_or(|c| seen < c) {
                let Some(event) = stream.message().await.map_err(fail)? else {
                    anyhow::bail!(
                        "the notifier closed the stream (it is restarting); run watch again with --after-id to resume"
                    );
                };
                match format {
                    Format::Json => output::print_json_line(&event),
                    Format::Id => {
                        if let Some(Event::Notification(n)) = &event.event {
                            println!("{}", n.id);
                        }
                    }
                    Format::Table => match &event.event {
                        Some(Event::Notification(n)) => println!("{}", row(n).join("  ")),
                        Some(Event::UnreadCount(c)) => println!("unread: {}", c.count),
                        None => {}
                    },
                }
                if matches!(event.event, Some(Event::Notification(_))) {
                    seen += 1;
                }
            }
        }
        NotificationsCommand::Read { ids, all } => {
            let mut notifier = NotifierServiceClient::new(api.channel(Service::Notifier, false)?);
            let unread = if all {
                notifier
                    .mark_all_read(api.request(pb::MarkAllReadRequest {})?)
                    .await
            } else if ids.is_empty() {
                anyhow::bail!("give notification ids, or --all");
            } else {
                notifier
                    .mark_read(api.request(pb::MarkReadRequest { ids })?)
                    .await
            }
            .map_err(fail)?
            .into_inner();
            match format {
                Format::Json => output::print_json(&unread),
                _ => println!("{} unread", unread.count),
            }
        }
    }
    Ok(())
}

fn row(n: &pb::Notification) -> Vec<String> {
    vec![
        n.id.clone(),
        time(n.created_at.as_ref()),
        enum_name(
            pb::NotificationKind::try_from(n.kind)
                .ok()
                .map(|k| k.as_str_name()),
        ),
        if n.read { "yes" } else { "no" }.into(),
        n.title.clone(),
    ]
}
