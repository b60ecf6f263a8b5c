//! Outbound mail: templates, composition, the outbox worker.

pub mod compose;
pub mod template;
pub mod worker;

pub use compose::{compose, new_message_id, ComposeError, Envelope};
pub use template::{Rendered, TemplateError, Templates};
pub use worker::{Transport, Worker};
