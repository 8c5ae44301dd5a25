//! Scoped options: resolution order, every option in every scope, errors, TOML and the
//! seed's `mstore { servers = (…) }` stanza.

use redeliver::config::{
    ConfigError, MessageIdFormat, MobilityConfig, MstoreModuleConfig, ResolvedOptions,
    ScopeContext, ScopeOptions, SmppRegisteredDelivery,
};

fn everywhere() -> ScopeContext {
    ScopeContext {
        binding: Some("smsc-1".into()),
        binding_group: Some("bulk".into()),
        domain: Some("sms.example.com".into()),
    }
}

#[test]
fn defaults_are_the_seeds() {
    let r = MobilityConfig::default().resolve(&everywhere());
    assert_eq!(r, ResolvedOptions::default());
    assert_eq!(r.smpp_registered_delivery, SmppRegisteredDelivery::None);
    assert!(!r.mm7_delivery_report);
    assert!(r.mm7_mstore_save_message);
    assert!(r.mm7_mstore_bucket_use_shortcode);
    assert_eq!(r.submit_msgid_format, MessageIdFormat::String);
}

/// Sets one option to `value` in one scope only and checks it resolves for a message in that
/// scope, and not for a message outside it.
fn check_each_scope(set: impl Fn(&mut ScopeOptions), get: impl Fn(&ResolvedOptions) -> String) {
    let default = get(&MobilityConfig::default().resolve(&everywhere()));
    for scope in ["binding", "binding_group", "domain", "global"] {
        let mut config = MobilityConfig::default();
        let slot = match scope {
            "binding" => config.binding.entry("smsc-1".into()).or_default(),
            "binding_group" => config.binding_group.entry("bulk".into()).or_default(),
            "domain" => config.domain.entry("sms.example.com".into()).or_default(),
            _ => &mut config.global,
        };
        set(slot);
        let inside = get(&config.resolve(&everywhere()));
        assert_ne!(inside, default, "{scope}: the setting was not picked up");
        let outside = get(&config.resolve(&ScopeContext {
            binding: Some("other".into()),
            binding_group: Some("other".into()),
            domain: Some("other.example.com".into()),
        }));
        if scope == "global" {
            assert_eq!(outside, inside, "global applies everywhere");
        } else {
            assert_eq!(outside, default, "{scope}: leaked outside its scope");
        }
    }
}

#[test]
fn every_option_is_honoured_in_every_scope() {
    check_each_scope(
        |s| s.smpp_registered_delivery = Some(SmppRegisteredDelivery::SmscDelivery),
        |r| r.smpp_registered_delivery.to_string(),
    );
    check_each_scope(
        |s| s.mm7_delivery_report = Some(true),
        |r| r.mm7_delivery_report.to_string(),
    );
    check_each_scope(
        |s| s.mm7_mstore_save_message = Some(false),
        |r| r.mm7_mstore_save_message.to_string(),
    );
    check_each_scope(
        |s| s.submit_msgid_format = Some(MessageIdFormat::Hexadecimal),
        |r| r.submit_msgid_format.to_string(),
    );
    check_each_scope(
        |s| s.receipt_msgid_format = Some(MessageIdFormat::Decimal),
        |r| r.receipt_msgid_format.to_string(),
    );
}

#[test]
fn the_most_specific_scope_wins() {
    let config = MobilityConfig::from_toml_str(
        r#"
        [global]
        smpp_registered_delivery = "SMSC_Delivery"
        [domain."sms.example.com"]
        smpp_registered_delivery = "None"
        [binding_group.bulk]
        smpp_registered_delivery = "SMSC_Delivery_Failure"
        [binding."smsc-1"]
        smpp_registered_delivery = "SMSC_Delivery"
        "#,
    )
    .unwrap();
    let rd = |cx: ScopeContext| config.resolve(&cx).smpp_registered_delivery;
    assert_eq!(rd(everywhere()), SmppRegisteredDelivery::SmscDelivery);
    let mut cx = everywhere();
    cx.binding = Some("smsc-2".into());
    assert_eq!(rd(cx.clone()), SmppRegisteredDelivery::SmscDeliveryFailure);
    cx.binding_group = None;
    assert_eq!(rd(cx.clone()), SmppRegisteredDelivery::None);
    cx.domain = Some("elsewhere".into());
    assert_eq!(rd(cx), SmppRegisteredDelivery::SmscDelivery);
}

#[test]
fn use_shortcode_is_global_only() {
    let ok = MobilityConfig::from_toml_str("[global]\nmm7_mstore_bucket_use_shortcode = false\n")
        .unwrap();
    assert!(!ok.mm7_mstore_bucket_use_shortcode);
    assert!(!ok.resolve(&everywhere()).mm7_mstore_bucket_use_shortcode);

    for (table, scope) in [
        ("[domain.\"d.example\"]", "domain \"d.example\""),
        ("[binding_group.bulk]", "binding_group \"bulk\""),
        ("[binding.b1]", "binding \"b1\""),
    ] {
        let err = MobilityConfig::from_toml_str(&format!(
            "{table}\nmm7_mstore_bucket_use_shortcode = true\n"
        ))
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::WrongScope { option, .. } if option == "mm7_mstore_bucket_use_shortcode"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(scope), "{text}");
        assert!(text.contains("global"), "{text}");
    }
}

#[test]
fn bad_values_name_option_scope_and_expectation() {
    let err =
        MobilityConfig::from_toml_str("[binding.b1]\nsmpp_registered_delivery = \"Sometimes\"\n")
            .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("smpp_registered_delivery"), "{text}");
    assert!(text.contains("binding \"b1\""), "{text}");
    assert!(text.contains("\"SMSC_Delivery\""), "{text}");
    assert!(text.contains("Sometimes"), "{text}");

    let err = MobilityConfig::from_toml_str("[domain.d]\nmm7_delivery_report = 3\n").unwrap_err();
    assert_eq!(
        err,
        ConfigError::InvalidValue {
            option: "mm7_delivery_report".into(),
            scope: "domain \"d\"".into(),
            expected: "true or false".into(),
            found: "3".into(),
        }
    );

    let err =
        MobilityConfig::from_toml_str("[global]\nsubmit_msgid_format = \"octal\"\n").unwrap_err();
    assert!(err.to_string().contains("\"hexadecimal\""), "{err}");

    let err =
        MobilityConfig::from_toml_str("[global]\nmm7_mstore_save_mesage = true\n").unwrap_err();
    assert!(
        matches!(&err, ConfigError::UnknownOption { option, scope, .. } if option == "mm7_mstore_save_mesage" && scope == "global"),
        "{err:?}"
    );

    let err = MobilityConfig::from_toml_str("[listener]\n").unwrap_err();
    assert!(matches!(err, ConfigError::Syntax(_)), "{err:?}");
    let err = MobilityConfig::from_toml_str("[global\n").unwrap_err();
    assert!(matches!(err, ConfigError::Syntax(_)), "{err:?}");
}

#[test]
fn momentum_style_string_booleans_are_accepted() {
    let c = MobilityConfig::from_toml_str("[global]\nmm7_delivery_report = \"true\"\n").unwrap();
    assert!(c.global.mm7_delivery_report.unwrap());
}

#[test]
fn toml_and_json_round_trip() {
    let text = r#"
        [global]
        smpp_registered_delivery = "SMSC_Delivery"
        mm7_mstore_bucket_use_shortcode = false
        [domain."mm7.example.com"]
        mm7_delivery_report = true
        [binding_group.bulk]
        mm7_mstore_save_message = false
        [binding."smsc-1"]
        submit_msgid_format = "hexadecimal"
        receipt_msgid_format = "decimal"
    "#;
    let config = MobilityConfig::from_toml_str(text).unwrap();
    let again = MobilityConfig::from_toml_str(&config.to_toml_string().unwrap()).unwrap();
    assert_eq!(again, config);
    let json = serde_json::to_string(&config).unwrap();
    let from_json: MobilityConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(from_json, config);
    // Validation runs for every serde format, not only TOML.
    let bad = serde_json::from_str::<MobilityConfig>(
        r#"{"domain": {"d": {"mm7_mstore_bucket_use_shortcode": true}}}"#,
    )
    .unwrap_err();
    assert!(bad.to_string().contains("global scope only"), "{bad}");
}

#[test]
fn mstore_stanza_defaults_and_lists() {
    let none =
        MstoreModuleConfig::from_ecelerity_conf("Keep_Message_Dicts_In_Memory = true\n").unwrap();
    assert_eq!(none.servers, vec!["127.0.0.1:8098".to_owned()]);

    let seed =
        MstoreModuleConfig::from_ecelerity_conf("mstore {\n  servers = (\"127.0.0.1:8098\")\n}\n")
            .unwrap();
    assert_eq!(seed.servers, vec!["127.0.0.1:8098".to_owned()]);

    let conf = r#"
        # the spool
        spool { basedir = "/var/spool/ecelerity" }
        Domain "mm7.example.com" { mm7_delivery_report = true }
        mstore {
          servers = ( "10.0.0.1:8098" "10.0.0.2:8098", "https://riak.example.com:8443" ) # three
          debug_flags = "DEBUG"
        }
    "#;
    let c = MstoreModuleConfig::from_ecelerity_conf(conf).unwrap();
    assert_eq!(
        c.servers,
        vec![
            "10.0.0.1:8098",
            "10.0.0.2:8098",
            "https://riak.example.com:8443"
        ]
    );
    assert_eq!(
        c.other.get("debug_flags").map(String::as_str),
        Some("DEBUG")
    );
    let urls = c.server_urls().unwrap();
    assert_eq!(urls[0].as_str(), "http://10.0.0.1:8098/");
    assert_eq!(urls[2].scheme(), "https");
}

#[test]
fn broken_stanzas_say_where() {
    for (text, line, what) in [
        ("mstore {\n servers = (\"a\"\n", 2, "`)`"),
        ("mstore {\n servers = (\"a\")\n", 2, "`}`"),
        ("\nmstore {\n servers \"a\"\n}\n", 3, "`=`"),
        (
            "mstore {\n servers = \"unterminated\n}\n",
            2,
            "unterminated",
        ),
        ("mstore {\n servers = }\n", 2, "expected a value"),
    ] {
        let err = MstoreModuleConfig::from_ecelerity_conf(text).unwrap_err();
        assert_eq!(err.line, line, "{text:?}: {err}");
        assert!(err.to_string().contains(what), "{text:?}: {err}");
    }
}

/// `MobilityConfig` has no duration, count or rate: every option is a boolean or a name. Numbers
/// at the edges of what TOML can hold are refused as such, naming the option and the scope.
#[test]
fn extreme_numbers_are_refused_for_every_option() {
    let options = [
        "smpp_registered_delivery",
        "mm7_delivery_report",
        "mm7_mstore_save_message",
        "submit_msgid_format",
        "receipt_msgid_format",
        "mm7_mstore_bucket_use_shortcode",
    ];
    for option in options {
        for value in [
            "0",
            "-1",
            "9223372036854775807",
            "-9223372036854775808",
            "1e308",
            "inf",
            "-inf",
            "nan",
            "1e-30",
        ] {
            let text = format!("[global]\n{option} = {value}\n");
            match MobilityConfig::from_toml_str(&text) {
                Err(ConfigError::InvalidValue {
                    option: o, scope, ..
                }) => {
                    assert_eq!((o.as_str(), scope.as_str()), (option, "global"), "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
