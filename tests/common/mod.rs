//! Shared by the integration test binaries; not every binary uses every helper.
#![allow(dead_code)]

pub mod corpus;
pub mod gateway;
pub mod mailbox;
pub mod rng;
pub mod stack;
