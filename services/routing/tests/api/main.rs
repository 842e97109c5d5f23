//! Integration tests of the routing service: real Redis (shared with a key
//! prefix per test, or processes the test starts itself, Redis Cluster
//! included), real Postgres per test, real gRPC servers on port 0.

mod caps;
mod cluster;
mod conformance;
mod fairness;
mod faults;
mod helpers;
mod hours;
mod permissions;
mod rules;
mod settings;
mod sticky;
mod weights;
mod workload;
