//! Integration tests: one binary, each test with its own broker on port 0 and its own database.

mod helpers;
mod idp;

mod access;
mod audit;
mod audit_export;

mod aws;
mod aws_deny;
mod cli_and_config;
mod gate;
mod gate_auth;
mod gate_cli;
mod gate_fixture;
mod health;
mod id_tokens;
mod nginx;
mod oidc_flows;
mod openapi;
mod policy_runtime;
mod sessions;
mod slack;
mod slack_fake;
mod store;
mod tls;
mod tokens;
