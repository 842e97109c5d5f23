//! End to end: leads → routing → notifier, through the outbox.

mod cli;
mod fastpath;
mod flows;
mod hardening;
mod held;
mod single_binary;
mod sla;
mod sticky;
mod tracing;
mod validators;
