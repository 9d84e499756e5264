//! List resources (protocol 6.10, `terraform query` in Terraform >= 1.14):
//! a list resource finds existing objects of a managed resource type and
//! hands each over with its identity, as it is found. Results travel
//! through a [`ListOutput`] that says when Terraform wants no more (its
//! limit reached, or the call cancelled), so a list resource reads only the
//! pages it needs.

use super::diagnostics::Diagnostics;
use super::model::{Model, check_conformance};
use super::resource::Context;
use super::schema::Schema;
use super::value::Value;
use async_trait::async_trait;
use tokio::sync::mpsc;

/// One object found.
#[derive(Clone, Debug)]
pub struct Listed {
    /// The object's identity, wholly known.
    pub identity: Value,
    /// How a person recognises it, e.g. `centos-7-golden (uimage-...)`.
    pub display_name: String,
    /// The object as a read after import would give it, when asked for.
    pub object: Option<Value>,
}

/// What travels to the server for one event.
#[derive(Debug)]
pub enum ListEvent {
    Found(Listed),
    Diagnostics(Diagnostics),
}

/// Where a list resource sends what it finds.
pub struct ListOutput {
    sender: mpsc::Sender<ListEvent>,
    limit: u64,
    sent: u64,
    include_objects: bool,
    closed: bool,
}

impl ListOutput {
    /// An output of at most `limit` results (Terraform's default is 100).
    pub fn new(sender: mpsc::Sender<ListEvent>, limit: i64, include_objects: bool) -> Self {
        ListOutput {
            sender,
            limit: u64::try_from(limit).unwrap_or(0),
            sent: 0,
            include_objects,
            closed: false,
        }
    }

    /// Whether Terraform asked for the full objects.
    pub fn wants_objects(&self) -> bool {
        self.include_objects
    }

    /// Whether Terraform wants no more results: stop looking.
    pub fn is_done(&self) -> bool {
        self.closed || self.sent >= self.limit
    }

    /// Sends one result; `false` once no more are wanted.
    pub async fn send(&mut self, mut item: Listed) -> bool {
        if self.is_done() {
            return false;
        }
        if !self.include_objects {
            item.object = None;
        }
        if self.sender.send(ListEvent::Found(item)).await.is_err() {
            self.closed = true;
            return false;
        }
        self.sent += 1;
        !self.is_done()
    }

    /// Sends diagnostics on their own (an error ends the listing for Terraform).
    pub async fn report(&mut self, diagnostics: Diagnostics) {
        if diagnostics.is_empty() || self.closed {
            return;
        }
        if self.sender.send(ListEvent::Diagnostics(diagnostics)).await.is_err() {
            self.closed = true;
        }
    }
}

/// One list resource type, working on its typed configuration.
#[async_trait]
pub trait ListResource<D: Send + Sync + 'static>: Send + Sync + 'static {
    type Model: Model;

    /// The type name; the same as the managed resource type it lists.
    fn type_name(&self) -> &'static str;

    /// What the list resource finds, for the docs (markdown).
    fn description(&self) -> String;

    /// The schema of its configuration, from the model.
    fn schema(&self) -> Schema {
        Self::Model::schema(0, self.description())
    }

    /// Plan-time checks of a configuration (ValidateListResourceConfig).
    fn validate(&self, _config: &Self::Model) -> Diagnostics {
        Diagnostics::new()
    }

    /// Finds objects and sends each to `out` as it is found, stopping as
    /// soon as `out` wants no more. Diagnostics go through `out` too.
    async fn list(&self, ctx: &Context, data: &D, config: Self::Model, out: &mut ListOutput);
}

/// A list resource as the server drives it.
#[async_trait]
pub trait AnyListResource<D>: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, config: &Value) -> Diagnostics;
    async fn list(&self, ctx: &Context, data: &D, config: &Value, out: &mut ListOutput);
    /// See [`super::resource::AnyResource::check_model`].
    fn check_model(&self) -> Result<(), String>;
}

#[async_trait]
impl<D: Send + Sync + 'static, L: ListResource<D>> AnyListResource<D> for L {
    fn type_name(&self) -> &'static str {
        ListResource::type_name(self)
    }

    fn schema(&self) -> Schema {
        ListResource::schema(self)
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        match L::Model::from_value(config) {
            Ok(m) => ListResource::validate(self, &m),
            Err(d) => d.into(),
        }
    }

    async fn list(&self, ctx: &Context, data: &D, config: &Value, out: &mut ListOutput) {
        match L::Model::from_value(config) {
            Ok(m) => ListResource::list(self, ctx, data, m, out).await,
            Err(d) => out.report(d.into()).await,
        }
    }

    fn check_model(&self) -> Result<(), String> {
        check_conformance::<L::Model>(&ListResource::schema(self))
    }
}
