//! How results look: a plain aligned table for people (`-o table`, the
//! default), the canonical proto3 JSON mapping for scripts (`-o json`, the
//! same shape grpcurl prints), or just the ids (`-o id`, for `$(…)`).

use std::fmt::Display;
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Id,
}

/// A protobuf message leadctl can print as JSON: its full proto name.
pub trait Named: prost::Message + Sized {
    const NAME: &'static str;
}

macro_rules! named {
    ($($ty:path => $name:literal),* $(,)?) => {
        $(impl Named for $ty { const NAME: &'static str = $name; })*
        /// Every name registered above (a test checks each resolves).
        #[cfg(test)]
        pub const NAMES: &[&str] = &[$($name),*];
    };
}

use leadflow_proto::leads::v1 as leads;
use leadflow_proto::notifier::v1 as notifier;
use leadflow_proto::routing::v1 as routing;

named! {
    leads::Lead => "leadflow.leads.v1.Lead",
    leads::ListLeadsResponse => "leadflow.leads.v1.ListLeadsResponse",
    leads::AssignLeadsResponse => "leadflow.leads.v1.AssignLeadsResponse",
    leads::GetLeadHistoryResponse => "leadflow.leads.v1.GetLeadHistoryResponse",
    leads::Member => "leadflow.leads.v1.Member",
    leads::ListMembersResponse => "leadflow.leads.v1.ListMembersResponse",
    leads::ListDeadLettersResponse => "leadflow.leads.v1.ListDeadLettersResponse",
    leads::RetryDeadLettersResponse => "leadflow.leads.v1.RetryDeadLettersResponse",
    routing::RoutingSettings => "leadflow.routing.v1.RoutingSettings",
    routing::ListRoutingAuditResponse => "leadflow.routing.v1.ListRoutingAuditResponse",
    routing::SimulateRoutingResponse => "leadflow.routing.v1.SimulateRoutingResponse",
    routing::GetWorkloadResponse => "leadflow.routing.v1.GetWorkloadResponse",
    notifier::ListNotificationsResponse => "leadflow.notifier.v1.ListNotificationsResponse",
    notifier::NotificationEvent => "leadflow.notifier.v1.NotificationEvent",
    notifier::UnreadCount => "leadflow.notifier.v1.UnreadCount",
}

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(leadflow_proto::FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptor set decodes")
    })
}

/// `message` in the proto3 JSON mapping. Fields at their default value are
/// included, so scripts can rely on every field being there.
pub fn to_json<M: Named>(message: &M) -> serde_json::Value {
    let descriptor = pool()
        .get_message_by_name(M::NAME)
        .expect("every Named type is in the descriptor set");
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .expect("a message re-decodes with its own descriptor");
    let options = SerializeOptions::new().skip_default_fields(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .expect("a protobuf message serialises to JSON")
}

/// Prints `message` as pretty JSON.
pub fn print_json<M: Named>(message: &M) {
    println!(
        "{}",
        serde_json::to_string_pretty(&to_json(message)).expect("JSON values print")
    );
}

/// Prints `message` as one JSON line (for streams).
pub fn print_json_line<M: Named>(message: &M) {
    println!("{}", to_json(message));
}

/// Prints a response the way `-o` asks: all of `message` as JSON, its `ids`
/// one a line, or what `for_people` prints (a table, mostly).
pub fn print<M, I>(format: Format, message: &M, ids: I, for_people: impl FnOnce())
where
    M: Named,
    I: IntoIterator,
    I::Item: Display,
{
    match format {
        Format::Json => print_json(message),
        Format::Id => ids.into_iter().for_each(|id| println!("{id}")),
        Format::Table => for_people(),
    }
}

/// Prints an answer that has no ids (a count): JSON for `-o json`, else
/// the `line` for people.
pub fn print_summary<M: Named>(format: Format, message: &M, line: impl FnOnce() -> String) {
    match format {
        Format::Json => print_json(message),
        Format::Id | Format::Table => println!("{}", line()),
    }
}

/// Prints a table of `rows` under `header`.
pub fn print_table(header: &[&'static str], rows: impl IntoIterator<Item = Vec<String>>) {
    let mut table = Table::new(header);
    rows.into_iter().for_each(|row| table.row(row));
    table.print();
}

/// A table with a header row; columns are as wide as their widest cell.
pub struct Table {
    /// The column titles, in capitals.
    header: Vec<&'static str>,
    /// The cells, one `Vec` a row, as many as the header has columns.
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Self {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let last = cells.len().saturating_sub(1);
            let mut out = String::new();
            for (i, cell) in cells.into_iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    let pad = widths[i] - cell.chars().count() + 2;
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.trim_end().to_owned()
        };
        let mut out = line(self.header.clone());
        for row in &self.rows {
            out.push('\n');
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        out
    }

    pub fn print(&self) {
        println!("{}", self.render());
    }
}

/// A timestamp for people: UTC, to the second. Empty when absent.
pub fn time(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|ts| chrono::DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// An enum value as people type it: `WEBSITE` → `website`.
pub fn enum_name(name: Option<&str>) -> String {
    name.map(|n| n.to_ascii_lowercase())
        .unwrap_or_else(|| "?".into())
}

/// A proto enum field (`i32` on the wire) by its name, e.g.
/// `enum_value(lead.status, LeadStatus::as_str_name)` → `won`; `?` when the
/// number is one this build does not know.
pub fn enum_value<E: TryFrom<i32>>(value: i32, name: fn(&E) -> &'static str) -> String {
    enum_name(E::try_from(value).ok().as_ref().map(name))
}

/// `yes` or `no`.
pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

/// `-` for empty cells, so columns stay readable.
pub fn or_dash(value: &str) -> String {
    if value.is_empty() {
        "-".into()
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_message_is_in_the_descriptor_set() {
        for name in NAMES {
            assert!(pool().get_message_by_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn json_uses_the_proto3_mapping_with_enum_names_and_rfc3339_times() {
        let lead = leads::Lead {
            id: "l-1".into(),
            name: "Jane Doe".into(),
            source: leadflow_proto::common::v1::LeadSource::Website as i32,
            created_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..Default::default()
        };
        let json = to_json(&lead);
        assert_eq!(json["id"], "l-1");
        assert_eq!(json["source"], "WEBSITE");
        assert_eq!(json["createdAt"], "2023-11-14T22:13:20Z");
        assert_eq!(json["ownerId"], "", "defaults are included");
    }

    #[test]
    fn tables_align_columns() {
        let mut table = Table::new(&["ID", "NAME"]);
        table.row(vec!["1".into(), "Jane".into()]);
        table.row(vec!["1234".into(), "Al".into()]);
        assert_eq!(table.render(), "ID    NAME\n1     Jane\n1234  Al");
    }
}
