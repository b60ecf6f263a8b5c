//! Outbound mail: templates, composition, the outbox worker.

pub mod compose;
pub mod net;
pub mod smtp;
pub mod template;
pub mod worker;

pub use compose::{
    compose, enqueue, enqueue_recorded, new_message_id, ComposeError, Envelope, Outgoing,
    QueueError, Record,
};
pub use compose::{compose_with, enqueue_with, Extras, Part};
pub use template::{Rendered, TemplateError, Templates};
pub use worker::{Transport, Worker};
