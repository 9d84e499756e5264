//! UCloud's request signature as the API checks it, written from UCloud's
//! published rule and anchored by its official vectors (tests below), so the
//! simulator judges a client by UCloud's rule, never by the client's own code:
//! every parameter but `Signature`, sorted by key in byte order, each key
//! followed by its value with no separator, then the private key; the SHA-1
//! of that text in lowercase hex.

use std::fmt::Write as _;

use sha1::{Digest, Sha1};

/// The signature UCloud expects for `params` (as received, `Signature`
/// excluded) under `private_key`.
pub fn signature<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>, private_key: &str) -> String {
    let mut params: Vec<(&str, &str)> = params.into_iter().collect();
    // Byte order: uppercase before lowercase, `Key.10` before `Key.2`.
    params.sort_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
    let text: String = params
        .iter()
        .flat_map(|(key, value)| [*key, *value])
        .chain([private_key])
        .collect();
    Sha1::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(40), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// How a JSON number that is not an integer is signed: the shortest decimal
/// that reads back as the same number, without exponent and without a zero
/// fraction (`35.0` signs as `35`, `65.722` as `65.722`), as UCloud's SDKs
/// format it. Rust's `Display` for `f64` is exactly that format.
pub fn render_float(value: f64) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    //! The vectors from UCloud's documentation and SDKs (see the project's
    //! `ucloud-api.md` notes).

    use super::*;

    const PUBLIC_KEY: &str = "ucloudsomeone@example.com1296235120854146120";
    const PRIVATE_KEY: &str = "46f09bb9fab4f12dfc160dae12273d5332b5debe";

    fn create_uhost_instance() -> Vec<(&'static str, &'static str)> {
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
            ("PublicKey", PUBLIC_KEY),
            ("Quantity", "1"),
            ("Region", "cn-bj2"),
            ("Zone", "cn-bj2-04"),
        ]
    }

    #[test]
    fn describe_uhost_instance() {
        let params = [
            ("Action", "DescribeUHostInstance"),
            ("Region", "cn-bj2"),
            ("Limit", "10"),
            ("PublicKey", PUBLIC_KEY),
        ];
        assert_eq!(
            signature(params, PRIVATE_KEY),
            "cba5cf5ec4d4233d206b1b54951e3787350a642f"
        );
    }

    #[test]
    fn create_uhost_instance_in_any_order() {
        let mut params = create_uhost_instance();
        assert_eq!(
            signature(params.iter().copied(), PRIVATE_KEY),
            "4f9ef5df2abab2c6fccd1e9515cb7e2df8c6bb65"
        );
        params.reverse();
        assert_eq!(
            signature(params, PRIVATE_KEY),
            "4f9ef5df2abab2c6fccd1e9515cb7e2df8c6bb65"
        );
    }

    #[test]
    fn create_uhost_instance_with_a_security_token() {
        let mut params = create_uhost_instance();
        params.push(("SecurityToken", "some_stoken"));
        assert_eq!(
            signature(params, PRIVATE_KEY),
            "170c480ad176a247b324eb92a2cfe536aacfbd04"
        );
    }

    #[test]
    fn a_flattened_list_sorts_backends_10_before_backends_2() {
        let keys: Vec<String> = (0..12).map(|i| format!("Backends.{i}")).collect();
        let values = ["foo", "bar", "42"];
        let mut params: Vec<(&str, &str)> = vec![("Action", "AllocateBackendBatch"), ("PublicKey", PUBLIC_KEY)];
        params.extend(keys.iter().enumerate().map(|(i, k)| (k.as_str(), values[i % 3])));
        assert_eq!(
            signature(params, PRIVATE_KEY),
            "6bc32642779f8cb0bb3d3f128b1c0688abf9a1a3"
        );
    }

    #[test]
    fn floats_sign_without_a_zero_fraction() {
        assert_eq!(render_float(35.0), "35");
        assert_eq!(render_float(65.722), "65.722");
        assert_eq!(render_float(1e20), "100000000000000000000");
        for (proportion, expected) in [
            (35.0, "da620b97de476947302291fc93a2d8b0710be328"),
            (65.722, "5e39dd48144d6a075328e56a6c5e9df6c39ae939"),
        ] {
            let rendered = render_float(proportion);
            let params = [
                ("Action", "DescribeUHostInstance"),
                ("Region", "cn-bj2"),
                ("PublicKey", PUBLIC_KEY),
                ("Proportion", rendered.as_str()),
            ];
            assert_eq!(signature(params, PRIVATE_KEY), expected, "Proportion={proportion}");
        }
    }

    #[test]
    fn bare_parameters_without_a_public_key() {
        assert_eq!(
            signature([("foo", "bar")], "my_private_key"),
            "634edc1bb957c0d65e5ab5494cf3b7784fbc87af"
        );
    }
}
