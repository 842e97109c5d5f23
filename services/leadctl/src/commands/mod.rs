//! One module per command group; each turns arguments into requests and
//! responses into output, and nothing more.

pub mod leads;
pub mod notifications;
pub mod outbox;
pub mod routing;
pub mod team;
pub mod token;
