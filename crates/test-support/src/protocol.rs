//! Core's side of the protocol, for tests that replay what a Terraform the
//! machine does not have (>= 1.12: identity, `terraform query`) would send:
//! launch the provider binary as Terraform does (handshake, AutoMTLS with
//! the fixture client certificate), hold a tfplugin6 client to it, and build
//! and read msgpack values with `rmpv`, not with the provider's own codec.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use rmpv::Value;
use tonic::transport::Channel;
use tpu::proto::tfplugin6 as pb;
use tpu::proto::tfplugin6::provider_client::ProviderClient;

use crate::plugin_client::{COOKIE, ClientIdentity, channel, client_config, fixture_text, parse_handshake};

/// A provider process launched as Terraform launches it, and a client to it.
/// The process is killed when this is dropped.
pub struct Launched {
    child: Child,
    pub client: ProviderClient<Channel>,
}

impl Launched {
    /// Starts `binary` with the cookie, protocol 6 and the fixture client
    /// certificate (and `env`), reads its handshake line and connects over
    /// mutual TLS.
    pub async fn start(binary: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(binary)
            .envs(env.iter().copied())
            .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
            .env("PLUGIN_PROTOCOL_VERSIONS", "6")
            .env("PLUGIN_CLIENT_CERT", fixture_text("terraform-p521.pem"))
            .env_remove("TF_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the provider");
        let stdout = child.stdout.take().expect("piped stdout");
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            line
        })
        .await
        .expect("handshake reader");
        let (socket, cert) = parse_handshake(&line);
        let tls = client_config(
            &cert.expect("AutoMTLS certificate"),
            Some(&ClientIdentity::terraform()),
            false,
        );
        let channel = channel(&socket, Some(tls)).await.expect("connect to the provider");
        let client = ProviderClient::new(channel).max_decoding_message_size(256 * 1024 * 1024);
        Launched { child, client }
    }
}

impl Launched {
    /// The provider's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// msgpack of `v`.
pub fn msgpack(v: &Value) -> pb::DynamicValue {
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, v).expect("msgpack encoding");
    pb::DynamicValue {
        msgpack: bytes,
        json: vec![],
    }
}

/// The value of a msgpack DynamicValue; `Nil` when absent.
pub fn value(dv: Option<&pb::DynamicValue>) -> Value {
    match dv {
        Some(dv) if !dv.msgpack.is_empty() => {
            rmpv::decode::read_value(&mut dv.msgpack.as_slice()).expect("msgpack from the provider")
        }
        _ => Value::Nil,
    }
}

/// Whether `v` is unknown (any extension value, refined or not).
pub fn is_unknown(v: &Value) -> bool {
    matches!(v, Value::Ext(..))
}

/// An object of `block` with every attribute null (blocks empty) except
/// those in `set`, as Terraform sends a configuration.
pub fn object(block: &pb::schema::Block, set: &[(&str, Value)]) -> Value {
    use pb::schema::nested_block::NestingMode;
    let mut fields: Vec<(Value, Value)> = Vec::new();
    for a in &block.attributes {
        let v = set
            .iter()
            .find(|(k, _)| *k == a.name)
            .map_or(Value::Nil, |(_, v)| v.clone());
        fields.push((Value::from(a.name.as_str()), v));
    }
    for b in &block.block_types {
        let empty = match NestingMode::try_from(b.nesting) {
            Ok(NestingMode::List | NestingMode::Set) => Value::Array(vec![]),
            Ok(NestingMode::Map) => Value::Map(vec![]),
            _ => Value::Nil,
        };
        let v = set
            .iter()
            .find(|(k, _)| *k == b.type_name)
            .map_or(empty, |(_, v)| v.clone());
        fields.push((Value::from(b.type_name.as_str()), v));
    }
    Value::Map(fields)
}

/// Attribute `name` of an object value; `Nil` when absent.
pub fn get<'a>(v: &'a Value, name: &str) -> &'a Value {
    static NIL: Value = Value::Nil;
    match v {
        Value::Map(fields) => fields
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map_or(&NIL, |(_, v)| v),
        _ => &NIL,
    }
}

/// `v` with attribute `name` set to `x`.
pub fn with(mut v: Value, name: &str, x: Value) -> Value {
    if let Value::Map(fields) = &mut v {
        match fields.iter_mut().find(|(k, _)| k.as_str() == Some(name)) {
            Some((_, old)) => *old = x,
            None => fields.push((Value::from(name), x)),
        }
    }
    v
}
