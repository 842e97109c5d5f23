//! The two outside channels: Web Push and email. In-app is the inbox itself.

pub mod email;
pub mod webpush;
