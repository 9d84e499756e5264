//! The provider framework: tfplugin6 RPCs become typed calls on the
//! [`resource::Provider`], [`resource::Resource`] and
//! [`resource::DataSource`] traits. Nothing above this layer sees protobuf
//! or walks raw values: resources work on [`model`]s declared once.
//!
//! - `value`, `codec`: Terraform values and their msgpack/JSON wire forms;
//! - `schema`, `model`: attribute declarations and the typed models that
//!   carry them;
//! - `plan`: the default plan and the schema's plan rules; `private`: the
//!   resource's private state;
//! - `resource`: the traits providers, resources and data sources implement;
//! - `list`: list resources (`terraform query`);
//! - `validate`: validators declared on attributes, checked before the
//!   object's own `validate`;
//! - `server`: the gRPC service; `timeouts`, `diagnostics`, `docs`: helpers.

pub mod codec;
pub mod diagnostics;
pub mod docs;
pub mod list;
pub mod model;
pub mod plan;
pub mod private;
pub mod resource;
pub mod schema;
pub mod server;
pub mod timeouts;
pub mod validate;
pub mod value;

pub use diagnostics::{AttrPath, Diagnostic, Diagnostics, Severity};
pub use list::{ListOutput, ListResource, Listed};
pub use model::{Model, Sensitive, TfType};
pub use private::Private;
pub use resource::{
    AnyDataSource, AnyResource, ApplyResult, ConfigureRequest, Context, DataResult, DataSource, DeleteResult, Done,
    Failure, IdentitySchema, Plan, PlanRequest, Provider, RawState, ReadResult, Resource,
};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Replace, ReplaceRequest, Schema, attr};
pub use validate::{Validator, v};
pub use value::{FromValue, IntoValue, Maybe, Number, Type, Value};
