//! Slack's Web API and the Block Kit messages sent through it.

pub mod api;
pub mod blocks;
pub mod modal;
