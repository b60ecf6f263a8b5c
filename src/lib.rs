//! incident-gateway: a SOC incident mailbox turned into tracked, auditable cases.
//!
//! The flow of one message (see `README.md`): [`intake`] reads it (IMAP or a pipe),
//! [`extract`] parses and classifies it, [`store`] writes the case, events and outbox
//! rows in one transaction, [`outbound`] sends what the outbox holds.

pub mod actions;
pub mod cli;
pub mod config;
pub mod domain;
pub mod export;
pub mod extract;
pub mod health;
pub mod http;
pub mod intake;
pub mod notify;
pub mod oauth2;
pub mod outbound;
pub mod policy;
pub mod reports;
pub mod routing;
pub mod service;
pub mod siem;
pub mod sla;
pub mod store;
pub mod tls;
pub mod web;
