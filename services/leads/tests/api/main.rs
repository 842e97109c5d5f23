//! Integration tests of the leads service: a real server on port 0, a fresh
//! Postgres database per test, real Ed25519 tokens verified in production mode.
//! One test binary (modules below) keeps link time down.

mod assign;
mod auth;
mod claim;
mod contacts;
mod create;
mod helpers;
mod isolation;
mod listing;
mod permissions;
mod process;
mod schedule;
mod team;
