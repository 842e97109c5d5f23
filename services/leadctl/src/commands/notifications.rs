//! `leadctl notifications …`: the caller's in-app bell: list, watch live,
//! mark read.

use clap::Subcommand;
use leadflow_proto::notifier::v1 as pb;
use leadflow_proto::notifier::v1::notification_event::Event;
use leadflow_proto::notifier::v1::notifier_service_client::NotifierServiceClient;

use crate::client::{Api, Service};
use crate::output::{self, Format, enum_value, time, yes_no};

#[derive(Subcommand, Debug)]
pub enum NotificationsCommand {
    /// The newest notifications first.
    List {
        /// Only unread ones.
        #[arg(long)]
        unread: bool,
        /// At most this many, newest first.
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
        /// The notifications to mark read.
        ids: Vec<String>,
        /// Mark every notification read.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

/// The generated client of the notifier.
type NotifierClient = NotifierServiceClient<tonic::transport::Channel>;

/// Runs one `notifications` command.
pub async fn run(api: &Api, format: Format, command: NotificationsCommand) -> anyhow::Result<()> {
    match command {
        NotificationsCommand::List { unread, limit } => {
            let mut notifier = api.client(Service::Notifier, false, NotifierClient::new)?;
            let request = pb::ListNotificationsRequest {
                page_size: limit,
                page_token: String::new(),
                unread_only: unread,
            };
            let list = notifier
                .call(request, NotifierClient::list_notifications)
                .await?;
            let count = notifier
                .call(
                    pb::GetUnreadCountRequest {},
                    NotifierClient::get_unread_count,
                )
                .await?
                .count;
            let ids = list.notifications.iter().map(|n| &n.id);
            output::print(format, &list, ids, || {
                let header = ["ID", "TIME", "KIND", "READ", "TITLE"];
                output::print_table(&header, list.notifications.iter().map(row));
                eprintln!("{count} unread");
            });
        }
        NotificationsCommand::Watch { after_id, count } => {
            let mut notifier = api.client(Service::Notifier, true, NotifierClient::new)?;
            let request = pb::WatchNotificationsRequest { after_id };
            let mut stream = notifier
                .call(request, NotifierClient::watch_notifications)
                .await?;
            let mut seen = 0;
            if format == Format::Table {
                eprintln!("watching the bell (Ctrl-C to stop)");
            }
            while count.is_none_or(|c| seen < c) {
                let next = stream.message().await;
                let Some(event) = next.map_err(|status| notifier.failure(status))? else {
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
            let mut notifier = api.client(Service::Notifier, false, NotifierClient::new)?;
            let unread = if all {
                let request = pb::MarkAllReadRequest {};
                notifier
                    .call(request, NotifierClient::mark_all_read)
                    .await?
            } else if ids.is_empty() {
                anyhow::bail!("give notification ids, or --all");
            } else {
                let request = pb::MarkReadRequest { ids };
                notifier.call(request, NotifierClient::mark_read).await?
            };
            output::print_summary(format, &unread, || format!("{} unread", unread.count));
        }
    }
    Ok(())
}

/// A notification as one row (or, joined, one line of `watch`).
fn row(n: &pb::Notification) -> Vec<String> {
    vec![
        n.id.clone(),
        time(n.created_at.as_ref()),
        enum_value(n.kind, pb::NotificationKind::as_str_name),
        yes_no(n.read),
        n.title.clone(),
    ]
}
