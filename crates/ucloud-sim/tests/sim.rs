//! `ucloud-sim` over the wire, started in-process: the behaviour the
//! provider's client and the acceptance tests rely on (signatures, RetCodes,
//! the image life cycle, scoping, faults, lost answers, the state file, the
//! three encodings).

use serde_json::{Value, json};
use test_support::sim::{Sim, signed_params};

const URL: &str = "https://bucket.cn-bj.ufileos.com/images/disk.raw";

/// The parameters of a valid import, with `overrides` replacing or adding some.
fn import_params<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("Region", "cn-bj2"),
        ("ImageName", "web"),
        ("UFileUrl", URL),
        ("OsType", "CentOS"),
        ("OsName", "CentOS 7.6 64位"),
        ("Format", "RAW"),
        ("Auth", "true"),
    ];
    for (k, v) in overrides {
        params.retain(|(key, _)| key != k);
        params.push((k, v));
    }
    params
}

fn import(sim: &Sim, overrides: &[(&str, &str)]) -> String {
    let answer = sim.sign_and_post("ImportCustomImage", &import_params(overrides));
    assert_eq!(answer["RetCode"], 0, "{answer}");
    answer["ImageId"].as_str().expect("ImageId").to_string()
}

fn describe(sim: &Sim, params: &[(&str, &str)]) -> Value {
    let answer = sim.sign_and_post("DescribeImage", params);
    assert_eq!(answer["RetCode"], 0, "{answer}");
    answer
}

/// The custom images of a DescribeImage answer (UCloud's platform images,
/// listed after them when no ImageType is asked for, left out).
fn ids(answer: &Value) -> Vec<String> {
    answer["ImageSet"]
        .as_array()
        .expect("ImageSet")
        .iter()
        .filter(|i| i["ImageType"] == "Custom")
        .map(|i| i["ImageId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_signed_import_is_making_then_available_and_described_like_ucloud() {
    let sim = Sim::start(&["--making-time", "3s"]);
    let reply = sim.try_sign_and_post("ImportCustomImage", &import_params(&[])).unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.header("X-UCLOUD-REQUEST-UUID").is_some_and(|id| id.len() == 36));
    let answer = reply.json();
    assert_eq!(answer["Action"], "ImportCustomImageResponse");
    let id = answer["ImageId"].as_str().unwrap().to_string();
    assert!(id.starts_with("uimage-"), "{id}");

    let listed = describe(&sim, &[("Region", "cn-bj2"), ("ImageId", &id)]);
    assert_eq!(listed["Action"], "DescribeImageResponse");
    assert_eq!(listed["TotalCount"], 1);
    let image = &listed["ImageSet"][0];
    assert_eq!(image["State"], "Making");
    assert_eq!(image["ImageName"], "web");
    assert_eq!(image["ImageType"], "Custom");
    assert_eq!(image["OsType"], "Linux");
    assert_eq!(image["OsName"], "CentOS 7.6 64位");
    assert_eq!(image["Tag"], "Default");
    assert!(
        image.get("Format").is_none() && image.get("UFileUrl").is_none(),
        "never returned by UCloud"
    );

    sim.wait_for_state(&id, "Available");
    let listed = describe(&sim, &[("Region", "cn-bj2"), ("ImageId", &id)]);
    assert_eq!(listed["ImageSet"][0]["State"], "Available");
}

#[test]
fn an_import_from_a_corrupt_file_ends_unavailable() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let id = import(
        &sim,
        &[("UFileUrl", "https://bucket.cn-bj.ufileos.com/corrupt/disk.raw")],
    );
    let image = sim.wait_for_state(&id, "Unavailable");
    assert_eq!(image["UFileUrl"], "https://bucket.cn-bj.ufileos.com/corrupt/disk.raw");
    let listed = describe(&sim, &[("Region", "cn-bj2"), ("ImageId", &id)]);
    assert_eq!(listed["ImageSet"][0]["State"], "Unavailable");
}

#[test]
fn bad_signatures_are_refused_before_any_action() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let params = import_params(&[]);

    let foreign = signed_params("ImportCustomImage", &params, Sim::KEY_PUBLIC, "another-private-key");
    let foreign: Vec<(&str, &str)> = foreign.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let answer = sim.post_form(&foreign).unwrap().json();
    assert_eq!(answer["RetCode"], 171, "{answer}");

    let mut altered = signed_params("ImportCustomImage", &params, Sim::KEY_PUBLIC, Sim::KEY_PRIVATE);
    for (k, v) in altered.iter_mut() {
        if k == "ImageName" {
            *v = "tampered".to_string();
        }
    }
    let altered: Vec<(&str, &str)> = altered.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(sim.post_form(&altered).unwrap().ret_code(), 171);

    let stranger = signed_params("ImportCustomImage", &params, "who-is-this", Sim::KEY_PRIVATE);
    let stranger: Vec<(&str, &str)> = stranger.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(sim.post_form(&stranger).unwrap().ret_code(), 172);

    let mut unsigned = vec![("Action", "ImportCustomImage"), ("PublicKey", Sim::KEY_PUBLIC)];
    unsigned.extend(params.iter().copied());
    assert_eq!(sim.post_form(&unsigned).unwrap().ret_code(), 170);
    let signature_only = [("Action", "ImportCustomImage"), ("Signature", "0123")];
    assert_eq!(sim.post_form(&signature_only).unwrap().ret_code(), 170);

    assert!(sim.images().is_empty(), "a refused request never imports");
    let journal = sim.journal();
    assert_eq!(journal.len(), 5);
    assert!(
        journal
            .iter()
            .all(|e| e["SignatureValid"] == false && e["Action"] == "ImportCustomImage")
    );
    assert_eq!(
        journal
            .iter()
            .map(|e| e["RetCode"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [171, 171, 172, 170, 170]
    );
}

#[test]
fn neither_logs_nor_journal_show_signatures_or_private_keys() {
    let sim = Sim::start(&["--making-time", "0s", "--key", "other-public:other-private-secret"]);
    let signed = signed_params(
        "DescribeImage",
        &[("Region", "cn-bj2")],
        "other-public",
        "other-private-secret",
    );
    let pairs: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(sim.post_form(&pairs).unwrap().ret_code(), 0);
    let signature = &signed.iter().find(|(k, _)| k == "Signature").unwrap().1;
    let journal = serde_json::to_string(&sim.journal()).unwrap();
    assert_eq!(sim.journal()[0]["SignatureValid"], true);
    assert!(
        journal.contains("other-public"),
        "the journal shows the public key: {journal}"
    );
    let log = sim.wait_for_log("DescribeImage retcode=0");
    for secret in [signature.as_str(), "other-private-secret"] {
        assert!(!journal.contains(secret), "journal leaks {secret}");
        assert!(!log.contains(secret), "log leaks {secret}");
    }
}

#[test]
fn missing_and_unknown_actions_are_160_and_161() {
    let sim = Sim::start(&[]);
    let answer = sim.sign_and_post("CreateUHostInstance", &[("Region", "cn-bj2")]);
    assert_eq!(answer["RetCode"], 161, "{answer}");
    assert!(answer["Message"].as_str().unwrap().contains("CreateUHostInstance"));

    let mut no_action = vec![("Region".to_string(), "cn-bj2".to_string())];
    no_action.push(("PublicKey".to_string(), Sim::KEY_PUBLIC.to_string()));
    let signature = ucloud_sim::sign::signature(
        no_action.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        Sim::KEY_PRIVATE,
    );
    let pairs = [
        ("Region", "cn-bj2"),
        ("PublicKey", Sim::KEY_PUBLIC),
        ("Signature", signature.as_str()),
    ];
    assert_eq!(sim.post_form(&pairs).unwrap().ret_code(), 160);
}

#[test]
fn invalid_import_parameters_are_230_naming_the_parameter() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let mut without_os_name = import_params(&[]);
    without_os_name.retain(|(k, _)| *k != "OsName");
    let answer = sim.sign_and_post("ImportCustomImage", &without_os_name);
    assert_eq!(answer["RetCode"], 230);
    assert_eq!(answer["Message"], "Params [OsName] not available");

    for format in ["raw", "Qcow2", "vhd"] {
        let answer = sim.sign_and_post("ImportCustomImage", &import_params(&[("Format", format)]));
        assert_eq!(answer["RetCode"], 230, "{format}: {answer}");
        assert!(
            answer["Message"]
                .as_str()
                .unwrap()
                .starts_with("Params [Format] not available"),
            "{answer}"
        );
    }
    for (param, value) in [
        ("UFileUrl", "ftp://bucket/disk.raw"),
        ("Auth", "false"),
        ("OsType", "Other"),
    ] {
        let answer = sim.sign_and_post("ImportCustomImage", &import_params(&[(param, value)]));
        assert_eq!(answer["RetCode"], 230, "{param}={value}: {answer}");
    }
    assert!(sim.images().is_empty());
    for format in ["RAW", "VHD", "VMDK", "qcow2"] {
        import(&sim, &[("Format", format)]);
    }
    import(&sim, &[("OsType", "Other"), ("OsName", "Other")]);
    assert_eq!(sim.live_images().len(), 5);
}

#[test]
fn images_are_scoped_by_region_and_project() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let default = import(&sim, &[]);
    let in_project = import(&sim, &[("ProjectId", "org-team")]);
    let in_shanghai = import(&sim, &[("Region", "cn-sh2")]);

    let custom = |params: &[(&str, &str)]| ids(&describe(&sim, params));
    assert_eq!(custom(&[("Region", "cn-bj2")]), [default.as_str()]);
    assert_eq!(
        custom(&[("Region", "cn-bj2"), ("ProjectId", "org-team")]),
        [in_project.as_str()]
    );
    assert_eq!(custom(&[("Region", "cn-sh2")]), [in_shanghai.as_str()]);
    let hidden = describe(&sim, &[("Region", "cn-sh2"), ("ImageId", &default)]);
    assert_eq!(
        (hidden["TotalCount"].clone(), hidden["ImageSet"].clone()),
        (json!(0), json!([]))
    );

    let answer = sim.sign_and_post(
        "TerminateCustomImage",
        &[("Region", "cn-bj2"), ("ImageId", &in_project)],
    );
    assert_eq!(
        answer["RetCode"], 8956,
        "another project's image cannot be deleted: {answer}"
    );
    let image = sim.image(&in_project).unwrap();
    assert_eq!(
        (image["ProjectId"].clone(), image["Deleted"].clone()),
        (json!("org-team"), json!(false))
    );
}

#[test]
fn describe_paginates_with_offset_and_limit() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let all: Vec<String> = (0..5).map(|_| import(&sim, &[])).collect();
    let mut seen = Vec::new();
    for offset in ["0", "2", "4"] {
        let page = describe(
            &sim,
            &[
                ("Region", "cn-bj2"),
                ("ImageType", "Custom"),
                ("Offset", offset),
                ("Limit", "2"),
            ],
        );
        assert_eq!(page["TotalCount"], 5);
        seen.extend(ids(&page));
    }
    assert_eq!(seen, all, "pages cover every image once, in a stable order");
    let picked = describe(
        &sim,
        &[("Region", "cn-bj2"), ("ImageIds.0", &all[1]), ("ImageIds.1", &all[3])],
    );
    assert_eq!(ids(&picked), [all[1].clone(), all[3].clone()]);
    // Without ImageType, UCloud's platform images follow the custom ones.
    let everything = describe(&sim, &[("Region", "cn-bj2"), ("Limit", "100")]);
    assert_eq!(everything["TotalCount"], 7);
    assert_eq!(ids(&everything)[..5], all[..]);
    assert_eq!(everything["ImageSet"][5]["ImageType"], "Base");
}

#[test]
fn terminate_deletes_once_and_then_answers_8956() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let id = import(&sim, &[]);
    let answer = sim.sign_and_post("TerminateCustomImage", &[("Region", "cn-bj2"), ("ImageId", &id)]);
    assert_eq!(
        (answer["RetCode"].clone(), answer["ImageId"].clone()),
        (json!(0), json!(id))
    );
    assert!(
        ids(&describe(&sim, &[("Region", "cn-bj2")])).is_empty(),
        "deleted images are not listed"
    );
    let again = sim.sign_and_post("TerminateCustomImage", &[("Region", "cn-bj2"), ("ImageId", &id)]);
    assert_eq!(again["RetCode"], 8956);
    assert_eq!(again["Message"], "resource does not exist or is not a custom image");
    assert_eq!(sim.image(&id).unwrap()["Deleted"], true);
    assert!(sim.live_images().is_empty());
}

#[test]
fn an_image_deleted_out_of_band_disappears_from_the_api() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let id = import(&sim, &[]);
    sim.delete_out_of_band(&id);
    assert_eq!(
        describe(&sim, &[("Region", "cn-bj2"), ("ImageId", &id)])["TotalCount"],
        0
    );
    let answer = sim.sign_and_post("TerminateCustomImage", &[("Region", "cn-bj2"), ("ImageId", &id)]);
    assert_eq!(answer["RetCode"], 8956);
    assert_eq!(
        sim.count_action("TerminateCustomImage"),
        1,
        "hooks are not in the journal"
    );
}

#[test]
fn terminate_while_making_can_be_rejected_with_8957() {
    let strict = Sim::start(&["--making-time", "1h", "--terminate-making", "reject"]);
    let id = import(&strict, &[]);
    let answer = strict.sign_and_post("TerminateCustomImage", &[("Region", "cn-bj2"), ("ImageId", &id)]);
    assert_eq!(answer["RetCode"], 8957, "{answer}");
    assert_eq!(strict.live_images().len(), 1);

    let lenient = Sim::start(&["--making-time", "1h"]);
    let id = import(&lenient, &[]);
    let answer = lenient.sign_and_post("TerminateCustomImage", &[("Region", "cn-bj2"), ("ImageId", &id)]);
    assert_eq!(answer["RetCode"], 0, "{answer}");
}

#[test]
fn the_journal_counts_the_ids_each_describe_asks_for_and_when_it_came() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let a = import(&sim, &[]);
    let b = import(&sim, &[("ImageName", "other")]);
    describe(
        &sim,
        &[
            ("Region", "cn-bj2"),
            ("ImageIds.0", &a),
            ("ImageIds.1", &b),
            ("ImageIds.2", "uimage-none"),
        ],
    );
    describe(&sim, &[("Region", "cn-bj2"), ("ImageId", &a)]);
    describe(&sim, &[("Region", "cn-bj2"), ("Limit", "10")]);
    let journal = sim.journal();
    let counts: Vec<Value> = journal.iter().map(|e| e["IdCount"].clone()).collect();
    assert_eq!(counts, [Value::Null, Value::Null, json!(3), json!(1), json!(0)]);
    let at: Vec<u64> = journal.iter().map(|e| e["AtMs"].as_u64().expect("AtMs")).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "{at:?}");
    assert!(journal.iter().all(|e| e["Throttled"] == false));
}

#[test]
fn a_rate_limit_throttles_each_key_like_ucloud_with_153() {
    let sim = Sim::start(&["--making-time", "0s", "--rate-limit", "3"]);
    let answers: Vec<Value> = (0..5)
        .map(|_| sim.sign_and_post("DescribeImage", &[("Region", "cn-bj2")])["RetCode"].clone())
        .collect();
    // Five requests within far less than a second: a burst of three passes.
    assert_eq!(answers, [json!(0), json!(0), json!(0), json!(153), json!(153)]);
    let journal = sim.journal();
    let throttled: Vec<bool> = journal.iter().map(|e| e["Throttled"] == true).collect();
    assert_eq!(throttled, [false, false, false, true, true]);
    assert!(
        journal.iter().all(|e| e["Fault"].is_null()),
        "throttling is not an injected fault"
    );
    let refused = sim.try_sign_and_post("ImportCustomImage", &import_params(&[])).unwrap();
    assert_eq!(refused.ret_code(), 153);
    assert!(sim.images().is_empty(), "a throttled import is not performed");
}

#[test]
fn injected_faults_are_answered_instead_of_the_action() {
    for (kind, status, ret_code) in [
        ("429", 429, None),
        ("503", 503, None),
        ("153", 200, Some(153)),
        ("150", 200, Some(150)),
    ] {
        let sim = Sim::start(&["--making-time", "0s", "--fault-rate", "1.0", "--fault-kinds", kind]);
        let reply = sim.try_sign_and_post("ImportCustomImage", &import_params(&[])).unwrap();
        assert_eq!(reply.status, status, "fault {kind}");
        assert!(
            reply.header("X-UCLOUD-REQUEST-UUID").is_some(),
            "fault {kind}: request id on every answer"
        );
        if let Some(code) = ret_code {
            assert_eq!(reply.ret_code(), code);
            assert_eq!(reply.json()["Action"], "ImportCustomImageResponse");
        }
        assert!(sim.images().is_empty(), "fault {kind}: the action was performed");
        let journal = sim.journal();
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0]["Fault"], kind);
        assert_eq!(journal[0]["Lost"], false);
        assert_eq!(journal[0]["SignatureValid"], true);
        assert_eq!(journal[0]["RequestId"], reply.header("X-UCLOUD-REQUEST-UUID").unwrap());
    }
}

#[test]
fn a_lost_response_is_a_connection_error_but_the_image_exists() {
    let sim = Sim::start(&["--making-time", "0s", "--lost-response-rate", "1.0"]);
    let err = sim
        .try_sign_and_post("ImportCustomImage", &import_params(&[]))
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "{err}"
    );
    assert_eq!(
        sim.live_images().len(),
        1,
        "the import happened although its answer was lost"
    );
    let journal = sim.journal();
    assert_eq!(
        (journal[0]["Lost"].clone(), journal[0]["RetCode"].clone()),
        (json!(true), json!(0))
    );

    // The provider's HTTP client (reqwest) must see a transport error too, not an empty answer.
    let form: Vec<(String, String)> = signed_params(
        "ImportCustomImage",
        &import_params(&[]),
        Sim::KEY_PUBLIC,
        Sim::KEY_PRIVATE,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        reqwest::Client::new()
            .post(format!("{}/?Action=ImportCustomImage", sim.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
    });
    let err = result.expect_err("a lost answer must be an error for reqwest");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    assert_eq!(sim.live_images().len(), 2);
}

/// CopyCustomImage's parameters for a copy of `source` (cn-bj2, default
/// project) into cn-sh2 / org-b.
fn copy_params(source: &str) -> Vec<(&str, &str)> {
    vec![
        ("Region", "cn-bj2"),
        ("SourceImageId", source),
        ("TargetProjectId", "org-b"),
        ("TargetRegion", "cn-sh2"),
        ("TargetImageName", "web-sh"),
    ]
}

#[test]
fn a_copy_is_copying_in_its_target_then_available() {
    let sim = Sim::start(&["--making-time", "0s", "--copy-time", "300ms"]);
    let source = import(&sim, &[]);
    let answer = sim.sign_and_post("CopyCustomImage", &copy_params(&source));
    assert_eq!(answer["RetCode"], 0, "{answer}");
    assert_eq!(answer["Action"], "CopyCustomImageResponse");
    let id = answer["TargetImageId"].as_str().expect("TargetImageId").to_string();
    let target = [("Region", "cn-sh2"), ("ProjectId", "org-b"), ("ImageId", id.as_str())];
    let listed = describe(&sim, &target);
    assert_eq!(listed["ImageSet"][0]["State"], "Copying", "{listed}");
    assert_eq!(listed["ImageSet"][0]["ImageName"], "web-sh");
    let copied = sim.wait_for_state(&id, "Available");
    assert_eq!(
        (copied["Region"].as_str(), copied["ProjectId"].as_str()),
        (Some("cn-sh2"), Some("org-b"))
    );
    assert_eq!(copied["CopiedFrom"], source.as_str());

    let missing = sim.sign_and_post("CopyCustomImage", &copy_params("uimage-nothere"));
    assert_eq!(missing["RetCode"], 230, "{missing}");
    assert!(
        missing["Message"]
            .as_str()
            .unwrap()
            .starts_with("Params [SourceImageId] not available")
    );
    assert_eq!(sim.images().len(), 2, "a refused copy makes nothing");
}

#[test]
fn lose_answers_loses_the_first_answers_to_an_action_after_performing_it() {
    let sim = Sim::start(&["--making-time", "0s", "--lose-answers", "CopyCustomImage:1"]);
    let source = import(&sim, &[]);
    let err = sim
        .try_sign_and_post("CopyCustomImage", &copy_params(&source))
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "{err}"
    );
    assert_eq!(
        sim.live_images().len(),
        2,
        "the copy happened although its answer was lost"
    );
    let again = sim.sign_and_post("CopyCustomImage", &copy_params(&source));
    assert_eq!(again["RetCode"], 0, "only the first answer is lost: {again}");
    let lost: Vec<bool> = sim
        .journal()
        .iter()
        .filter(|e| e["Action"] == "CopyCustomImage")
        .map(|e| e["Lost"] == true)
        .collect();
    assert_eq!(lost, [true, false]);
}

#[test]
fn the_state_file_keeps_images_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sim-state.json");
    let state_arg = state.to_str().unwrap();

    let first = Sim::start(&["--making-time", "0s", "--state-file", state_arg]);
    let kept = import(&first, &[]);
    let gone = import(&first, &[]);
    first.sign_and_post("TerminateCustomImage", &[("Region", "cn-bj2"), ("ImageId", &gone)]);
    drop(first); // killed hard: every change was already saved

    let second = Sim::start(&["--making-time", "0s", "--state-file", state_arg]);
    assert_eq!(ids(&describe(&second, &[("Region", "cn-bj2")])), [kept.as_str()]);
    assert_eq!(second.image(&gone).unwrap()["Deleted"], true);
    let added = import(&second, &[]);
    assert_ne!(added, kept);
    second.terminate().expect("a graceful stop is clean");

    let third = Sim::start(&["--making-time", "0s", "--state-file", state_arg]);
    assert_eq!(ids(&describe(&third, &[("Region", "cn-bj2")])), [kept, added]);
}

#[test]
fn get_query_strings_and_json_bodies_are_accepted() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let id = import(&sim, &[]);

    let signed = signed_params(
        "DescribeImage",
        &[("Region", "cn-bj2"), ("ImageId", &id)],
        Sim::KEY_PUBLIC,
        Sim::KEY_PRIVATE,
    );
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&signed)
        .finish();
    let reply = sim.request("GET", &format!("/?{query}"), None, b"").unwrap();
    assert_eq!(ids(&reply.json()), [id.as_str()]);

    // JSON values are signed as rendered: the boolean true signs as "true".
    let signed = signed_params(
        "ImportCustomImage",
        &import_params(&[]),
        Sim::KEY_PUBLIC,
        Sim::KEY_PRIVATE,
    );
    let mut body: serde_json::Map<String, Value> = signed.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    body.insert("Auth".to_string(), Value::Bool(true));
    let reply = sim
        .request(
            "POST",
            "/",
            Some("application/json"),
            Value::Object(body).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(reply.ret_code(), 0, "{}", reply.json());
    assert_eq!(sim.live_images().len(), 2);

    let journal = sim.journal();
    assert_eq!(journal.len(), 3);
    assert!(journal.iter().all(|e| e["SignatureValid"] == true));
    assert_eq!(journal[1]["Method"], "GET");
}

#[test]
fn every_answer_has_a_fresh_request_id() {
    let sim = Sim::start(&[]);
    let a = sim.try_sign_and_post("DescribeImage", &[("Region", "cn-bj2")]).unwrap();
    let b = sim.post_form(&[("Action", "DescribeImage")]).unwrap();
    let (a, b) = (
        a.header("X-UCLOUD-REQUEST-UUID").unwrap(),
        b.header("X-UCLOUD-REQUEST-UUID").unwrap(),
    );
    assert_ne!(a, b);
}
