//! The provider framework: tfplugin6 RPCs become typed calls on the
//! [`resource::Provider`] and [`resource::Resource`] traits. Nothing above
//! this layer sees protobuf.

pub mod codec;
pub mod diagnostics;
pub mod docs;
pub mod resource;
pub mod schema;
pub mod server;
pub mod timeouts;
pub mod value;

pub use diagnostics::{AttrPath, Diagnostic, Diagnostics, Severity};
pub use resource::{ApplyResult, ConfigureRequest, Context, Plan, PlanRequest, Provider, ReadResult, Resource};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema};
pub use value::{FromValue, IntoValue, Maybe, Number, Type, Value};
