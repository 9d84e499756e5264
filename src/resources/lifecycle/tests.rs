//! The shared lifecycle through a third image resource made up here: a
//! model, its words and one ImportCustomImage call, and no lifecycle code
//! of its own. Driven against the simulator, in process, as the server
//! drives every resource (through `AnyResource`, on values).

use super::*;
use crate::framework::timeouts::{Timeouts, TimeoutsBlock};
use crate::framework::{AnyResource, Value, attr};
use crate::images::{PollSchedule, Waiter};
use crate::model;
use crate::ucloud::{Client, ClientConfig, ImageFormat, ImportCustomImage, Secret};
use std::sync::Arc;
use test_support::sim::Sim;

const TIMEOUTS: Timeouts = Timeouts::new(&[
    (Op::Create, Duration::from_secs(60)),
    (Op::Delete, Duration::from_secs(60)),
]);

model! {
    /// A golden image: a name and a file, nothing else.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct GoldenModel {
        pub id: Maybe<String> = attr::computed("The image id.").use_state_for_unknown(),
        pub name: Maybe<String> = attr::required("The image name.").requires_replace(),
        pub file: Maybe<String> = attr::required("The file's URL.").requires_replace(),
        pub region: Maybe<String> = attr::optional_computed("The region.").requires_replace(),
        pub project_id: Maybe<String> = attr::optional_computed("The project.").requires_replace(),
        pub status: Maybe<String> = attr::computed("The image state."),
        pub size: Maybe<i64> = attr::computed("The size in GB."),
        pub create_time: Maybe<String> = attr::computed("When it was made."),
        pub features: Maybe<Vec<String>> = attr::computed("Its features."),
        pub timeouts: TimeoutsBlock = TIMEOUTS.block(),
    }
}

impl GoldenModel {
    fn refresh_more(&mut self, img: &Image, how: Refresh) {
        if how == Refresh::Read {
            self.name = Maybe::Known(img.image_name.clone());
        }
    }
}

fn golden_location(m: &GoldenModel, data: &ProviderData) -> Result<Location, Diagnostic> {
    data.locate_recorded(&m.region, &m.project_id, AttrPath::attr("region"))
}

super::image_model!(GoldenModel, timeouts: TIMEOUTS, location: golden_location);

struct GoldenImage;

#[async_trait]
impl ImageResource for GoldenImage {
    type Model = GoldenModel;
    type Call = ImportCustomImage;

    const TYPE_NAME: &'static str = "test_golden_image";
    const WORDS: Words = Words {
        object: "golden image",
        operation: "Golden image build",
        verb: "build",
        in_progress: "Making",
        slow: "Golden images take long",
    };

    fn description(&self) -> String {
        "A golden image.".into()
    }

    async fn prepare(
        &self,
        _ctx: &Context,
        data: &ProviderData,
        model: &mut GoldenModel,
    ) -> Result<Prepared<ImportCustomImage>, Failure<GoldenModel>> {
        let location = model.location(data)?;
        let call = ImportCustomImage {
            region: location.region.clone(),
            project_id: location.project_id.clone(),
            image_name: model.name.known().cloned().unwrap_or_default(),
            ufile_url: model.file.known().cloned().unwrap_or_default(),
            os_type: "CentOS".into(),
            os_name: "CentOS 7".into(),
            format: ImageFormat::Raw,
            auth: true,
            image_description: None,
            tag: None,
        };
        Ok(Prepared {
            location,
            call,
            warnings: Diagnostic::warning("Checked", "The file looks fine.").into(),
        })
    }

    fn unavailable_hint(&self, model: &GoldenModel, _loc: &Location) -> String {
        format!("Look at {}.", model.file.known().map_or("", String::as_str))
    }
}

fn provider(sim: &Sim) -> ProviderData {
    let client = Client::new(ClientConfig {
        base_url: sim.url.clone(),
        public_key: Sim::KEY_PUBLIC.into(),
        private_key: Secret::new(Sim::KEY_PRIVATE),
        ..ClientConfig::default()
    })
    .expect("client");
    let waiter = Waiter::new(PollSchedule::from_env_value(Some("20")));
    ProviderData::configured(Arc::new(client), "cn-bj2".into(), None, waiter)
}

fn config(name: &str, file: &str) -> Value {
    let mut v = GoldenModel::default().to_value();
    v.set("name", Value::string(name));
    v.set("file", Value::string(file));
    v
}

fn res() -> &'static dyn AnyResource<ProviderData> {
    &GoldenImage
}

fn live(sim: &Sim) -> Vec<String> {
    sim.live_images()
        .iter()
        .map(|i| i["ImageId"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_image_resource_gets_create_read_delete_and_import() {
    let sim = Sim::start(&["--making-time", "100ms"]);
    let data = provider(&sim);
    let ctx = Context::default();

    let planned = config("golden-1", "https://b.cn-bj.ufileos.com/golden.raw");
    let created = res().create(&ctx, &data, &planned).await.expect("created");
    let state = created.state;
    let id = state.get("id").as_str().expect("an id").to_string();
    assert_eq!(live(&sim), std::slice::from_ref(&id));
    assert_eq!(state.get("status"), &Value::string("Available"));
    assert_eq!(state.get("region"), &Value::string("cn-bj2"));
    assert!(
        created.warnings.to_string().contains("The file looks fine"),
        "{}",
        created.warnings
    );

    let read = res().read(&ctx, &data, &state).await.expect("read").expect("found");
    assert_eq!(read.state.get("name"), &Value::string("golden-1"));

    let imported = res()
        .import(&ctx, &data, &format!("cn-bj2/{id}"))
        .await
        .expect("imported");
    assert_eq!(imported.get("id"), &Value::string(&id));
    assert_eq!(imported.get("region"), &Value::string("cn-bj2"));
    assert!(res().import(&ctx, &data, "cn-bj2/image-1").await.is_err());

    res().delete(&ctx, &data, &state).await.expect("deleted");
    assert!(live(&sim).is_empty());
    let gone = res().read(&ctx, &data, &state).await.expect("read");
    assert!(gone.is_none(), "a deleted image leaves the state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_ctrl_c_interrupts_is_kept_tainted_with_its_id() {
    let sim = Sim::start(&["--making-time", "30s"]);
    let data = provider(&sim);
    let ctx = Context::default();
    // Stopped before the call: the call itself still completes, the wait does not.
    ctx.cancel.cancel();
    let failure = res()
        .create(
            &ctx,
            &data,
            &config("golden-2", "https://b.cn-bj.ufileos.com/golden.raw"),
        )
        .await
        .expect_err("interrupted");
    let kept = failure.keep.expect("the image stays in the state");
    let id = kept.get("id").as_str().expect("an id").to_string();
    assert_eq!(live(&sim), [id]);
    assert_eq!(kept.get("status"), &Value::string("Making"));
    let text = failure.diagnostics.to_string();
    assert!(text.contains("Golden image build interrupted"), "{text}");
    assert!(text.contains("kept in the state as tainted"), "{text}");
    assert!(
        text.contains("The file looks fine"),
        "earlier warnings are kept: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_ucloud_fails_is_deleted_and_nothing_is_kept() {
    let sim = Sim::start(&["--making-time", "100ms"]);
    let data = provider(&sim);
    let failure = res()
        .create(
            &Context::default(),
            &data,
            &config("golden-3", "https://b.cn-bj.ufileos.com/corrupt.raw"),
        )
        .await
        .expect_err("failed");
    assert!(failure.keep.is_none());
    let text = failure.diagnostics.to_string();
    assert!(text.contains("Golden image build failed"), "{text}");
    assert!(
        text.contains("Look at https://b.cn-bj.ufileos.com/corrupt.raw"),
        "{text}"
    );
    assert!(text.contains("nothing is left behind"), "{text}");
    assert!(live(&sim).is_empty());
}

#[tokio::test]
async fn states_with_a_malformed_id_are_refused_without_an_api_call() {
    // No client: any API call would fail with "Provider not configured".
    let data = ProviderData::unconfigured("no API calls", Maybe::Known("cn-bj2".into()), Maybe::Null);
    let ctx = Context::default();
    for bad in ["", "uimage-", "not-an-image", " uimage-1"] {
        let mut state = config("golden", "https://b/x.raw");
        state.set("id", Value::string(bad));
        let read = res().read(&ctx, &data, &state).await.expect_err("refused");
        assert!(
            read.diagnostics.to_string().contains("Invalid image id in state"),
            "{bad:?}"
        );
        let deleted = res().delete(&ctx, &data, &state).await.expect_err("refused");
        assert!(
            deleted.to_string().contains("No API call was made"),
            "{bad:?}: {deleted}"
        );
    }
}
