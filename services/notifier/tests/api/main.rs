//! Integration tests of the notifier against real peers: Postgres per test,
//! an SMTP server and a Web Push service (VAPID check, RFC 8291 decryption)
//! from the testkit, real gRPC servers on port 0.

mod delivery;
mod helpers;
mod inbox;
mod intake;
mod security;
