//! Integration tests: one binary, each test with its own broker on port 0 and its own database.

mod helpers;
mod idp;

mod access;
mod anonymous_limits;
mod audit;
mod audit_export;
mod audit_tamper;

mod aws;
mod aws_deny;
mod cli_and_config;
mod cli_exit_codes;
mod db;
mod db_cli;
mod db_faults;
mod db_fixture;
mod db_grants;
mod db_kill;
mod dev_mode;
mod errors;
mod fuzz_api;
mod gate;
mod gate_auth;
mod gate_cli;
mod gate_edges;
mod gate_fixture;
mod health;
mod house;
mod id_token_attacks;
mod id_tokens;
mod issuance_races;
mod key_rotation;
mod nginx;
mod oidc_flows;
mod openapi;
mod policy_runtime;
mod provider;
mod request_numbers;
mod sessions;
mod slack;
mod slack_fake;
mod slack_identity;
mod store;
mod tls;
mod tokens;
