//! Resource identity and list resources, proven at the protocol level: no
//! Terraform >= 1.12 can be had here, so these tests replay the calls core
//! makes (read in hashicorp/terraform's `internal/plugin6` and
//! `internal/terraform` at v1.14) against the provider binary, launched as
//! Terraform launches it, with `ucloud-sim` behind it. Values are built and
//! read with `rmpv`, not with the provider's codec.

use rmpv::Value;
use test_support::protocol::{Launched, get, is_unknown, msgpack, object, value, with};
use test_support::sim::Sim;
use tpu::proto::tfplugin6 as pb;

const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");
const IMAGE: &str = "ucloud_custom_image";
const COPY: &str = "ucloud_custom_image_copy";

fn s(x: &str) -> Value {
    Value::from(x)
}

/// A provider configured against `sim`, with the schemas Terraform loaded.
struct Core {
    p: Launched,
    schema: pb::get_provider_schema::Response,
    identities: pb::get_resource_identity_schemas::Response,
}

impl Core {
    /// Launches the provider and loads it as Terraform >= 1.12 does:
    /// GetProviderSchema, then GetResourceIdentitySchemas, then ConfigureProvider.
    async fn start(sim: &Sim) -> Core {
        let mut p = Launched::start(PROVIDER.as_ref(), &[("UCLOUD_POLL_INTERVAL_MS", "50")]).await;
        let schema = p
            .client
            .get_provider_schema(pb::get_provider_schema::Request {})
            .await
            .expect("GetProviderSchema")
            .into_inner();
        let identities = p
            .client
            .get_resource_identity_schemas(pb::get_resource_identity_schemas::Request {})
            .await
            .expect("GetResourceIdentitySchemas")
            .into_inner();
        let provider_block = schema
            .provider
            .as_ref()
            .and_then(|s| s.block.as_ref())
            .expect("provider schema");
        let config = object(
            provider_block,
            &[
                ("public_key", s(Sim::KEY_PUBLIC)),
                ("private_key", s(Sim::KEY_PRIVATE)),
                ("region", s("cn-bj2")),
                ("base_url", s(&sim.url)),
                ("ufile_base_url", s(&sim.ufile_url())),
            ],
        );
        let configured = p
            .client
            .configure_provider(pb::configure_provider::Request {
                terraform_version: "1.14.0".into(),
                config: Some(msgpack(&config)),
                ..Default::default()
            })
            .await
            .expect("ConfigureProvider")
            .into_inner();
        assert!(configured.diagnostics.is_empty(), "{:?}", configured.diagnostics);
        Core { p, schema, identities }
    }

    fn block(&self, type_name: &str) -> &pb::schema::Block {
        self.schema.resource_schemas[type_name].block.as_ref().expect("block")
    }

    /// A configuration of `ucloud_custom_image` named `name`.
    fn image_config(&self, name: &str) -> Value {
        object(
            self.block(IMAGE),
            &[
                ("name", s(name)),
                ("ufile_url", s("https://bucket.cn-bj.ufileos.com/images/c7.raw")),
                ("format", s("RAW")),
                ("os_type", s("CentOS")),
                ("os_name", s("CentOS 7")),
                ("verify_source", Value::Boolean(false)),
            ],
        )
    }

    async fn import(&mut self, type_name: &str, id: &str, identity: Option<Value>) -> (Value, Value) {
        let resp = self
            .p
            .client
            .import_resource_state(pb::import_resource_state::Request {
                type_name: type_name.into(),
                id: id.into(),
                identity: identity.map(|i| pb::ResourceIdentityData {
                    identity_data: Some(msgpack(&i)),
                }),
                ..Default::default()
            })
            .await
            .expect("ImportResourceState")
            .into_inner();
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        let imported = &resp.imported_resources[0];
        (value(imported.state.as_ref()), identity_of(imported.identity.as_ref()))
    }

    async fn read(&mut self, type_name: &str, state: &Value, identity: Option<&Value>) -> (Value, Value) {
        let resp = self
            .p
            .client
            .read_resource(pb::read_resource::Request {
                type_name: type_name.into(),
                current_state: Some(msgpack(state)),
                current_identity: identity.map(|i| pb::ResourceIdentityData {
                    identity_data: Some(msgpack(i)),
                }),
                ..Default::default()
            })
            .await
            .expect("ReadResource")
            .into_inner();
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        (value(resp.new_state.as_ref()), identity_of(resp.new_identity.as_ref()))
    }

    /// A plan as core asks for it; `prior` Nil for a create. The proposal is
    /// the configuration with the prior computed values it leaves unset.
    async fn plan(
        &mut self,
        type_name: &str,
        prior: &Value,
        config: &Value,
        prior_identity: Option<&Value>,
    ) -> pb::plan_resource_change::Response {
        let mut proposed = config.clone();
        for a in self.block(type_name).attributes.clone() {
            if a.computed && get(config, &a.name).is_nil() {
                proposed = with(proposed, &a.name, get(prior, &a.name).clone());
            }
        }
        let resp = self
            .p
            .client
            .plan_resource_change(pb::plan_resource_change::Request {
                type_name: type_name.into(),
                prior_state: Some(msgpack(prior)),
                proposed_new_state: Some(msgpack(&proposed)),
                config: Some(msgpack(config)),
                prior_identity: prior_identity.map(|i| pb::ResourceIdentityData {
                    identity_data: Some(msgpack(i)),
                }),
                ..Default::default()
            })
            .await
            .expect("PlanResourceChange")
            .into_inner();
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        resp
    }

    async fn apply(
        &mut self,
        type_name: &str,
        prior: &Value,
        planned: &Value,
        config: &Value,
        planned_identity: Option<&Value>,
    ) -> (Value, Value) {
        let resp = self
            .p
            .client
            .apply_resource_change(pb::apply_resource_change::Request {
                type_name: type_name.into(),
                prior_state: Some(msgpack(prior)),
                planned_state: Some(msgpack(planned)),
                config: Some(msgpack(config)),
                planned_identity: planned_identity.map(|i| pb::ResourceIdentityData {
                    identity_data: Some(msgpack(i)),
                }),
                ..Default::default()
            })
            .await
            .expect("ApplyResourceChange")
            .into_inner();
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        (value(resp.new_state.as_ref()), identity_of(resp.new_identity.as_ref()))
    }
}

fn identity_of(data: Option<&pb::ResourceIdentityData>) -> Value {
    value(data.and_then(|d| d.identity_data.as_ref()))
}

/// An identity as the identity schema declares it: exactly `id`, `region`
/// and `project_id`, strings or null, and wholly known unless `planned`
/// (where only the id may be unknown).
fn assert_conforms(identity: &Value, planned: bool) {
    let Value::Map(fields) = identity else {
        panic!("an identity is an object: {identity}");
    };
    let mut names: Vec<&str> = fields.iter().filter_map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["id", "project_id", "region"], "{identity}");
    for (k, v) in fields {
        let may_be_unknown = planned && k.as_str() == Some("id");
        assert!(
            v.is_str() || v.is_nil() || (may_be_unknown && is_unknown(v)),
            "{k} = {v} in {identity}"
        );
    }
    assert!(get(identity, "id").is_str() || planned, "{identity}");
}

/// The identity of the image a state holds, as the identity must say it.
fn expected_identity(state: &Value) -> Value {
    Value::Map(vec![
        (s("id"), get(state, "id").clone()),
        (s("project_id"), get(state, "project_id").clone()),
        (s("region"), get(state, "region").clone()),
    ])
}

fn same(a: &Value, b: &Value) -> bool {
    let norm = |v: &Value| {
        let mut pairs: Vec<(String, String)> = match v {
            Value::Map(f) => f.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            other => vec![(String::new(), other.to_string())],
        };
        pairs.sort();
        pairs
    };
    norm(a) == norm(b)
}

/// Makes a custom image in the simulator behind the provider's back.
fn image_in_sim(sim: &Sim, name: &str) -> String {
    let answer = sim.sign_and_post(
        "ImportCustomImage",
        &[
            ("Region", "cn-bj2"),
            ("ImageName", name),
            ("UFileUrl", "https://bucket.cn-bj.ufileos.com/images/c7.raw"),
            ("OsType", "CentOS"),
            ("OsName", "CentOS 7"),
            ("Format", "RAW"),
            ("Auth", "true"),
        ],
    );
    answer["ImageId"].as_str().expect("ImageId").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_load_of_terraform_1_12_finds_identities_and_the_list_resource() {
    let sim = Sim::start(&[]);
    let mut core = Core::start(&sim).await;
    for type_name in [IMAGE, COPY] {
        let schema = &core.identities.identity_schemas[type_name];
        assert_eq!(schema.version, 0);
        let attrs: Vec<(&str, bool, bool, String)> = schema
            .identity_attributes
            .iter()
            .map(|a| {
                let ty = String::from_utf8_lossy(&a.r#type).to_string();
                (a.name.as_str(), a.required_for_import, a.optional_for_import, ty)
            })
            .collect();
        assert_eq!(
            attrs,
            [
                ("id", true, false, "\"string\"".to_string()),
                ("region", false, true, "\"string\"".to_string()),
                ("project_id", false, true, "\"string\"".to_string()),
            ],
            "{type_name}"
        );
        assert!(schema.identity_attributes.iter().all(|a| !a.description.is_empty()));
    }
    // Every list resource type is a managed resource type with an identity.
    assert!(!core.schema.list_resource_schemas.is_empty());
    for type_name in core.schema.list_resource_schemas.keys() {
        assert!(core.schema.resource_schemas.contains_key(type_name), "{type_name}");
        assert!(core.identities.identity_schemas.contains_key(type_name), "{type_name}");
    }
    let list = core.schema.list_resource_schemas[IMAGE].block.as_ref().expect("block");
    assert!(list.attributes.iter().all(|a| !a.required), "no required filter");
    let metadata = core
        .p
        .client
        .get_metadata(pb::get_metadata::Request {})
        .await
        .expect("GetMetadata")
        .into_inner();
    let listed: Vec<&str> = metadata.list_resources.iter().map(|l| l.type_name.as_str()).collect();
    assert_eq!(listed, [IMAGE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_by_identity_then_read_plan_and_apply_keep_one_identity() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let id = image_in_sim(&sim, "centos-7-golden");
    let mut core = Core::start(&sim).await;

    // `import { to = ..., identity = { id = "uimage-..." } }`: id "" plus the identity.
    let given = Value::Map(vec![
        (s("id"), s(&id)),
        (s("region"), Value::Nil),
        (s("project_id"), Value::Nil),
    ]);
    let (state, identity) = core.import(IMAGE, "", Some(given)).await;
    assert_eq!(get(&state, "id"), &s(&id));
    assert_eq!(
        get(&state, "region"),
        &s("cn-bj2"),
        "the provider's region, as for id forms"
    );
    assert_conforms(&identity, false);
    assert!(same(&identity, &expected_identity(&state)), "{identity}");

    let (state, read_identity) = core.read(IMAGE, &state, Some(&identity)).await;
    assert_eq!(get(&state, "name"), &s("centos-7-golden"));
    assert!(same(&read_identity, &identity), "{read_identity} != {identity}");

    // The configuration adds what UCloud does not keep: an in-place update.
    let mut config = core.image_config("centos-7-golden");
    config = with(config, "region", s("cn-bj2"));
    let plan = core.plan(IMAGE, &state, &config, Some(&identity)).await;
    assert!(plan.requires_replace.is_empty(), "{:?}", plan.requires_replace);
    let planned = value(plan.planned_state.as_ref());
    let planned_identity = identity_of(plan.planned_identity.as_ref());
    assert_conforms(&planned_identity, false);
    assert!(same(&planned_identity, &identity));
    let (applied, applied_identity) = core
        .apply(IMAGE, &state, &planned, &config, Some(&planned_identity))
        .await;
    assert_eq!(get(&applied, "format"), &s("RAW"));
    assert!(same(&applied_identity, &identity), "an object's identity never changes");
    assert_eq!(sim.count_action("ImportCustomImage"), 1, "no API call for the update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_prior_identity_reads_and_updates_compute_it_from_the_state() {
    // Terraform < 1.12 and `-refresh=false` send no identity: it is never echoed, always computed.
    let sim = Sim::start(&["--making-time", "0s"]);
    let id = image_in_sim(&sim, "web");
    let mut core = Core::start(&sim).await;
    let (state, _) = core.import(IMAGE, &format!("cn-bj2/{id}"), None).await;
    let (state, identity) = core.read(IMAGE, &state, None).await;
    assert_conforms(&identity, false);
    assert!(same(&identity, &expected_identity(&state)));

    let config = with(core.image_config("web"), "region", s("cn-bj2"));
    let plan = core.plan(IMAGE, &state, &config, None).await;
    let planned = value(plan.planned_state.as_ref());
    let planned_identity = identity_of(plan.planned_identity.as_ref());
    assert!(same(&planned_identity, &identity));
    let (_, applied_identity) = core.apply(IMAGE, &state, &planned, &config, None).await;
    assert!(same(&applied_identity, &identity));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_replace_plan_an_unknown_id_known_after_apply() {
    let sim = Sim::start(&["--making-time", "100ms"]);
    let mut core = Core::start(&sim).await;
    let config = core.image_config("app-1");
    let plan = core.plan(IMAGE, &Value::Nil, &config, None).await;
    let planned = value(plan.planned_state.as_ref());
    let planned_identity = identity_of(plan.planned_identity.as_ref());
    assert_conforms(&planned_identity, true);
    assert!(is_unknown(get(&planned_identity, "id")), "{planned_identity}");
    assert_eq!(get(&planned_identity, "region"), &s("cn-bj2"));
    let (state, identity) = core
        .apply(IMAGE, &Value::Nil, &planned, &config, Some(&planned_identity))
        .await;
    assert_conforms(&identity, false);
    assert!(same(&identity, &expected_identity(&state)));
    let first = get(&identity, "id").clone();

    // A new name replaces: core plans the update (requires_replace), then a create.
    let renamed = core.image_config("app-2");
    let update = core.plan(IMAGE, &state, &renamed, Some(&identity)).await;
    let replaced: Vec<String> = update.requires_replace.iter().map(|p| format!("{p:?}")).collect();
    assert!(replaced.iter().any(|p| p.contains("\"name\"")), "{replaced:?}");
    let create = core.plan(IMAGE, &Value::Nil, &renamed, None).await;
    let create_identity = identity_of(create.planned_identity.as_ref());
    assert!(is_unknown(get(&create_identity, "id")), "{create_identity}");
    let planned = value(create.planned_state.as_ref());
    let (_, new_identity) = core
        .apply(IMAGE, &Value::Nil, &planned, &renamed, Some(&create_identity))
        .await;
    assert_conforms(&new_identity, false);
    assert_ne!(get(&new_identity, "id"), &first, "the replacement is another object");
    let (gone, gone_identity) = core.apply(IMAGE, &state, &Value::Nil, &Value::Nil, None).await;
    assert!(
        gone.is_nil() && gone_identity.is_nil(),
        "a deleted object has no identity"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_of_version_0_upgrades_to_itself() {
    let sim = Sim::start(&[]);
    let mut core = Core::start(&sim).await;
    let resp = core
        .p
        .client
        .upgrade_resource_identity(pb::upgrade_resource_identity::Request {
            type_name: COPY.into(),
            version: 0,
            raw_identity: Some(pb::RawState {
                json: br#"{"id":"uimage-abc","region":"cn-sh2","project_id":"org-1"}"#.to_vec(),
                ..Default::default()
            }),
        })
        .await
        .expect("UpgradeResourceIdentity")
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let upgraded = identity_of(resp.upgraded_identity.as_ref());
    assert_eq!(get(&upgraded, "project_id"), &s("org-1"));
    assert_conforms(&upgraded, false);
}

/// Lists with `limit` and reads at most `take` events before dropping the
/// stream, as core does at its limit.
async fn list(core: &mut Core, config: Value, limit: i64, take: usize, objects: bool) -> Vec<pb::list_resource::Event> {
    let validated = core
        .p
        .client
        .validate_list_resource_config(pb::validate_list_resource_config::Request {
            type_name: IMAGE.into(),
            config: Some(msgpack(&config)),
            ..Default::default()
        })
        .await
        .expect("ValidateListResourceConfig")
        .into_inner();
    assert!(validated.diagnostics.is_empty(), "{:?}", validated.diagnostics);
    let mut stream = core
        .p
        .client
        .list_resource(pb::list_resource::Request {
            type_name: IMAGE.into(),
            config: Some(msgpack(&config)),
            include_resource_object: objects,
            limit,
        })
        .await
        .expect("ListResource")
        .into_inner();
    let mut events = Vec::new();
    while events.len() < take {
        match stream.message().await.expect("event") {
            Some(e) => events.push(e),
            None => break,
        }
    }
    events
}

fn describe_pages(sim: &Sim) -> Vec<String> {
    sim.journal()
        .iter()
        .filter(|e| e["Action"] == "DescribeImage")
        .map(|e| e["Params"]["Offset"].as_str().unwrap_or("-").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_resource_pages_lazily_and_stops_at_the_limit() {
    let sim = Sim::start(&["--making-time", "0s"]);
    for i in 0..250 {
        image_in_sim(&sim, &format!("golden-{i:03}"));
    }
    let mut core = Core::start(&sim).await;
    let list_block = core.schema.list_resource_schemas[IMAGE].block.clone().expect("block");
    let before = describe_pages(&sim).len();
    let events = list(&mut core, object(&list_block, &[]), 5, usize::MAX, false).await;
    assert_eq!(events.len(), 5, "the stream ends at the limit");
    for e in &events {
        assert!(e.diagnostic.is_empty(), "{:?}", e.diagnostic);
        let identity = identity_of(e.identity.as_ref());
        assert_conforms(&identity, false);
        let id = get(&identity, "id").as_str().expect("id").to_string();
        assert!(e.display_name.starts_with("golden-") && e.display_name.ends_with(&format!(" ({id})")));
        assert!(e.resource_object.is_none(), "objects only when asked");
    }
    let pages = describe_pages(&sim)[before..].to_vec();
    assert_eq!(pages, ["0"], "one page of 100 was read for 5 results: {pages:?}");

    // Core cancels the stream once it has read what it wants.
    let before = describe_pages(&sim).len();
    let events = list(&mut core, object(&list_block, &[]), 1000, 3, false).await;
    assert_eq!(events.len(), 3);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pages = describe_pages(&sim)[before..].to_vec();
    assert!(
        pages.len() <= 2,
        "paging stopped when the stream was dropped: {pages:?}"
    );

    // All of them, page by page.
    let events = list(&mut core, object(&list_block, &[]), 1000, usize::MAX, false).await;
    assert_eq!(events.len(), 250);
    // A filter, in any case only custom images.
    let events = list(
        &mut core,
        object(&list_block, &[("name_regex", s("^golden-00[0-4]$"))]),
        100,
        usize::MAX,
        false,
    )
    .await;
    assert_eq!(events.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_objects_equal_what_a_read_after_import_gives() {
    let sim = Sim::start(&["--making-time", "0s"]);
    for name in ["centos-7-golden", "ubuntu-22-golden"] {
        image_in_sim(&sim, name);
    }
    let mut core = Core::start(&sim).await;
    let list_block = core.schema.list_resource_schemas[IMAGE].block.clone().expect("block");
    let events = list(&mut core, object(&list_block, &[]), 100, usize::MAX, true).await;
    assert_eq!(events.len(), 2);
    for e in events {
        let listed = value(e.resource_object.as_ref());
        let identity = identity_of(e.identity.as_ref());
        let id = get(&identity, "id").as_str().expect("id").to_string();
        let (imported, _) = core.import(IMAGE, "", Some(identity.clone())).await;
        let (read, read_identity) = core.read(IMAGE, &imported, None).await;
        assert!(same(&listed, &read), "listed {listed}\nread   {read}");
        assert!(same(&read_identity, &identity));
        assert_eq!(get(&listed, "id"), &s(&id));
    }
}
