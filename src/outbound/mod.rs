//! Outbound mail: templates, composition, the outbox worker.

pub mod compose;
pub mod net;
pub mod smtp;
pub mod template;
pub mod worker;

pub use compose::{compose, enqueue, new_message_id, ComposeError, Envelope, Outgoing, QueueError};
pub use template::{Rendered, TemplateError, Templates};
pub use worker::{Transport, Worker};
