//! UCloud's request signature, the provider's one place that knows the rule: sort the
//! parameters by key (byte order), concatenate `key` + `value` with no
//! separators, append the private key, SHA-1, lowercase hex. The client signs
//! with it; `ucloud-sim` verifies with its own implementation of the rule.

use sha1::{Digest, Sha1};

/// The signature of `params` (every parameter that is sent, `Signature`
/// excluded) under `private_key`. Parameters with empty values must already
/// have been dropped: they are neither sent nor signed.
pub fn signature<'a, I>(params: I, private_key: &str) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut sorted: Vec<(&str, &str)> = params.into_iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut hasher = Sha1::new();
    for (k, v) in sorted {
        hasher.update(k.as_bytes());
        hasher.update(v.as_bytes());
    }
    hasher.update(private_key.as_bytes());
    hex::encode(hasher.finalize())
}

/// Renders a float the way UCloud signs it: no exponent, no zero fraction
/// (`42.0` -> `42`, `65.722` -> `65.722`).
pub fn render_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUB: &str = "ucloudsomeone@example.com1296235120854146120";
    const PRIV: &str = "46f09bb9fab4f12dfc160dae12273d5332b5debe";

    fn create_uhost() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Action", "CreateUHostInstance"),
            ("CPU", "2"),
            ("ChargeType", "Month"),
            ("DiskSpace", "10"),
            ("ImageId", "f43736e1-65a5-4bea-ad2e-8a46e18883c2"),
            ("LoginMode", "Password"),
            ("Memory", "2048"),
            ("Name", "Host01"),
            ("Password", "VUNsb3VkLmNu"),
            ("PublicKey", PUB),
            ("Quantity", "1"),
            ("Region", "cn-bj2"),
            ("Zone", "cn-bj2-04"),
        ]
    }

    #[test]
    fn describe_uhost_vector() {
        let p = [
            ("Action", "DescribeUHostInstance"),
            ("Region", "cn-bj2"),
            ("Limit", "10"),
            ("PublicKey", PUB),
        ];
        assert_eq!(signature(p, PRIV), "cba5cf5ec4d4233d206b1b54951e3787350a642f");
    }

    #[test]
    fn create_uhost_vector() {
        assert_eq!(
            signature(create_uhost(), PRIV),
            "4f9ef5df2abab2c6fccd1e9515cb7e2df8c6bb65"
        );
    }

    #[test]
    fn security_token_vector() {
        let mut p = create_uhost();
        p.push(("SecurityToken", "some_stoken"));
        assert_eq!(signature(p, PRIV), "170c480ad176a247b324eb92a2cfe536aacfbd04");
    }

    #[test]
    fn flattened_list_vector_sorts_key_10_before_key_2() {
        let values = ["foo", "bar", "42"];
        let keys: Vec<String> = (0..12).map(|i| format!("Backends.{i}")).collect();
        let mut p: Vec<(&str, &str)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), values[i % 3]))
            .collect();
        p.push(("Action", "AllocateBackendBatch"));
        p.push(("PublicKey", PUB));
        assert_eq!(signature(p, PRIV), "6bc32642779f8cb0bb3d3f128b1c0688abf9a1a3");
    }

    #[test]
    fn float_vectors() {
        for (f, want) in [
            (35.0, "da620b97de476947302291fc93a2d8b0710be328"),
            (65.722, "5e39dd48144d6a075328e56a6c5e9df6c39ae939"),
        ] {
            let rendered = render_float(f);
            let p = [
                ("Action", "DescribeUHostInstance"),
                ("Region", "cn-bj2"),
                ("PublicKey", PUB),
                ("Proportion", rendered.as_str()),
            ];
            assert_eq!(signature(p, PRIV), want, "Proportion={f}");
        }
    }

    #[test]
    fn bare_params_vector() {
        assert_eq!(
            signature([("foo", "bar")], "my_private_key"),
            "634edc1bb957c0d65e5ab5494cf3b7784fbc87af"
        );
    }
}
