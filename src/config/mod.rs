//! Scoped options (binding < binding_group < domain < global) and compatibility loaders.
//!
//! Implements the option model of the mstore seed (`seeds/momentum-mstore-retrying-messages.md`,
//! "Non-Module Options Related to mstore"): every option can be set in the `binding`,
//! `binding_group`, `domain` and `global` scopes and the most specific setting wins, except
//! `mm7_mstore_bucket_use_shortcode`, which the seed allows in the global scope only.
//!
//! [`MobilityConfig`] is serde-loadable from any self-describing format; TOML looks like this:
//!
//! ```toml
//! [global]
//! smpp_registered_delivery = "SMSC_Delivery"
//! mm7_mstore_bucket_use_shortcode = true
//!
//! [domain."mm7.example.com"]
//! mm7_delivery_report = true
//!
//! [binding_group.bulk]
//! mm7_mstore_save_message = false
//!
//! [binding."smsc-1"]
//! submit_msgid_format = "hexadecimal"
//! receipt_msgid_format = "decimal"
//! ```
//!
//! [`MstoreModuleConfig::from_ecelerity_conf`] reads the seed's own `mstore { servers = (…) }`
//! stanza from a Momentum configuration file.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

mod ecelerity;

pub use ecelerity::{DEFAULT_MSTORE_SERVER, MAX_MSTORE_SERVERS, MstoreModuleConfig, StanzaError};

/// What `smpp_registered_delivery` asks the SMSC for (SMPP 3.4 §5.2.17, bits 0–1 of
/// `registered_delivery`). Messages are tracked in the store only when a receipt is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SmppRegisteredDelivery {
    /// No SMSC delivery receipt (`"None"`): messages are not stored.
    #[default]
    None,
    /// A receipt on final success or failure (`"SMSC_Delivery"`), the seed's setting.
    SmscDelivery,
    /// A receipt on failure only (`"SMSC_Delivery_Failure"`): no positive receipt ever comes,
    /// so delivered messages stay in the store until their retention ends.
    SmscDeliveryFailure,
}

impl SmppRegisteredDelivery {
    /// Every accepted spelling, as written in configuration files.
    pub const NAMES: [&'static str; 3] = ["None", "SMSC_Delivery", "SMSC_Delivery_Failure"];

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SmppRegisteredDelivery::None => "None",
            SmppRegisteredDelivery::SmscDelivery => "SMSC_Delivery",
            SmppRegisteredDelivery::SmscDeliveryFailure => "SMSC_Delivery_Failure",
        }
    }

    /// Parses a configuration value (case-insensitive).
    pub fn parse(value: &str) -> Option<Self> {
        [
            SmppRegisteredDelivery::None,
            SmppRegisteredDelivery::SmscDelivery,
            SmppRegisteredDelivery::SmscDeliveryFailure,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(value.trim()))
    }

    /// Whether the SMSC will send receipts, so that submissions are worth storing.
    pub fn requests_receipts(self) -> bool {
        !matches!(self, SmppRegisteredDelivery::None)
    }

    /// The SMPP 3.4 `registered_delivery` bits for the SMSC delivery receipt.
    pub fn registered_delivery_bits(self) -> u8 {
        match self {
            SmppRegisteredDelivery::None => 0,
            SmppRegisteredDelivery::SmscDelivery => 1,
            SmppRegisteredDelivery::SmscDeliveryFailure => 2,
        }
    }
}

impl fmt::Display for SmppRegisteredDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::smpp::{MessageIdFormat, msgid_key};

/// The configuration spellings of [`MessageIdFormat`] (`hex` and `dec` are accepted too).
pub const MESSAGE_ID_FORMAT_NAMES: [&str; 3] = ["string", "decimal", "hexadecimal"];

fn parse_msgid_format(value: &str) -> Option<MessageIdFormat> {
    value.parse().ok()
}

/// A configuration scope, from the most specific to the least.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One SMPP or MM7 binding (connection).
    Binding(String),
    /// A group of bindings.
    BindingGroup(String),
    /// A destination domain.
    Domain(String),
    /// Everything.
    Global,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Binding(name) => write!(f, "binding {name:?}"),
            Scope::BindingGroup(name) => write!(f, "binding_group {name:?}"),
            Scope::Domain(name) => write!(f, "domain {name:?}"),
            Scope::Global => f.write_str("global"),
        }
    }
}

/// Where a message travels: the scopes whose options apply to it. Any of them may be unknown.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScopeContext {
    /// The binding the message is sent on.
    pub binding: Option<String>,
    /// The binding group of that binding.
    pub binding_group: Option<String>,
    /// The destination domain.
    pub domain: Option<String>,
}

impl ScopeContext {
    /// A context with only a domain.
    pub fn domain(domain: impl Into<String>) -> Self {
        Self {
            domain: Some(domain.into()),
            ..Self::default()
        }
    }

    /// A context with only a binding.
    pub fn binding(binding: impl Into<String>) -> Self {
        Self {
            binding: Some(binding.into()),
            ..Self::default()
        }
    }
}

/// The options one scope sets; `None` leaves the decision to a less specific scope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeOptions {
    /// `smpp_registered_delivery`: receipts requested for SMPP submissions (the seed's
    /// `"SMSC_Delivery"` turns tracking on). Default `None`.
    pub smpp_registered_delivery: Option<SmppRegisteredDelivery>,
    /// `mm7_delivery_report`: delivery reports requested for MM7 submissions. Default false.
    pub mm7_delivery_report: Option<bool>,
    /// `mm7_mstore_save_message`: whether to save submissions for resubmission. Default true.
    pub mm7_mstore_save_message: Option<bool>,
    /// `submit_msgid_format`: how the SMSC/MMSC writes ids in its submit response. Default
    /// `string`.
    pub submit_msgid_format: Option<MessageIdFormat>,
    /// `receipt_msgid_format`: how it writes them in receipts. Default `string`.
    pub receipt_msgid_format: Option<MessageIdFormat>,
}

/// The options in effect for one message, after resolving every scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedOptions {
    /// `smpp_registered_delivery`.
    pub smpp_registered_delivery: SmppRegisteredDelivery,
    /// `mm7_delivery_report`.
    pub mm7_delivery_report: bool,
    /// `mm7_mstore_save_message`.
    pub mm7_mstore_save_message: bool,
    /// `mm7_mstore_bucket_use_shortcode` (global only).
    pub mm7_mstore_bucket_use_shortcode: bool,
    /// `submit_msgid_format`.
    pub submit_msgid_format: MessageIdFormat,
    /// `receipt_msgid_format`.
    pub receipt_msgid_format: MessageIdFormat,
}

impl Default for ResolvedOptions {
    /// The seed's defaults: no receipts requested, saving on, shortcode in the bucket name,
    /// ids compared as strings.
    fn default() -> Self {
        Self {
            smpp_registered_delivery: SmppRegisteredDelivery::None,
            mm7_delivery_report: false,
            mm7_mstore_save_message: true,
            mm7_mstore_bucket_use_shortcode: true,
            submit_msgid_format: MessageIdFormat::String,
            receipt_msgid_format: MessageIdFormat::String,
        }
    }
}

/// Every option of the mstore seed, in every scope.
///
/// Resolution for a message ([`MobilityConfig::resolve`]) takes each option from its binding,
/// else its binding group, else its domain, else the global scope, else the built-in default
/// ([`ResolvedOptions::default`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawConfig", into = "RawConfig")]
pub struct MobilityConfig {
    /// Options of the global scope.
    pub global: ScopeOptions,
    /// `mm7_mstore_bucket_use_shortcode`: use the shortcode in the bucket name
    /// (`MADR-<shortcode>`) rather than `MADR-MM7`. Global scope only; default true.
    pub mm7_mstore_bucket_use_shortcode: bool,
    /// Options per destination domain.
    pub domain: BTreeMap<String, ScopeOptions>,
    /// Options per binding group.
    pub binding_group: BTreeMap<String, ScopeOptions>,
    /// Options per binding.
    pub binding: BTreeMap<String, ScopeOptions>,
}

impl Default for MobilityConfig {
    fn default() -> Self {
        Self {
            global: ScopeOptions::default(),
            mm7_mstore_bucket_use_shortcode: true,
            domain: BTreeMap::new(),
            binding_group: BTreeMap::new(),
            binding: BTreeMap::new(),
        }
    }
}

/// Why a configuration was refused. Every variant names the option and the scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not valid TOML (or not the expected shape of tables).
    #[error("configuration syntax: {0}")]
    Syntax(String),
    /// An option name that no scope knows.
    #[error("{scope}: unknown option `{option}`; expected one of {expected}")]
    UnknownOption {
        /// The option as written.
        option: String,
        /// Where it was written.
        scope: String,
        /// The options this scope accepts.
        expected: String,
    },
    /// An option set in a scope where it is not valid.
    #[error("{scope}: option `{option}` is not valid here; expected it in {expected}")]
    WrongScope {
        /// The option.
        option: String,
        /// Where it was written.
        scope: String,
        /// Where it is valid.
        expected: String,
    },
    /// An option with a value of the wrong type or outside its range.
    #[error("{scope}: option `{option}` = {found}: expected {expected}")]
    InvalidValue {
        /// The option.
        option: String,
        /// Where it was written.
        scope: String,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
}

const SCOPED_OPTIONS: [&str; 5] = [
    "smpp_registered_delivery",
    "mm7_delivery_report",
    "mm7_mstore_save_message",
    "submit_msgid_format",
    "receipt_msgid_format",
];
const GLOBAL_ONLY: &str = "mm7_mstore_bucket_use_shortcode";

impl MobilityConfig {
    /// Resolves every option for a message travelling through `cx`, most specific scope first.
    pub fn resolve(&self, cx: &ScopeContext) -> ResolvedOptions {
        let scopes: [Option<&ScopeOptions>; 4] = [
            cx.binding.as_deref().and_then(|b| self.binding.get(b)),
            cx.binding_group
                .as_deref()
                .and_then(|g| self.binding_group.get(g)),
            cx.domain.as_deref().and_then(|d| self.domain.get(d)),
            Some(&self.global),
        ];
        let defaults = ResolvedOptions::default();
        macro_rules! most_specific {
            ($field:ident) => {
                scopes
                    .iter()
                    .flatten()
                    .find_map(|s| s.$field)
                    .unwrap_or(defaults.$field)
            };
        }
        ResolvedOptions {
            smpp_registered_delivery: most_specific!(smpp_registered_delivery),
            mm7_delivery_report: most_specific!(mm7_delivery_report),
            mm7_mstore_save_message: most_specific!(mm7_mstore_save_message),
            mm7_mstore_bucket_use_shortcode: self.mm7_mstore_bucket_use_shortcode,
            submit_msgid_format: most_specific!(submit_msgid_format),
            receipt_msgid_format: most_specific!(receipt_msgid_format),
        }
    }

    /// Reads a configuration from TOML (see the module documentation for the layout).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        Self::try_from(raw)
    }

    /// Writes the configuration as TOML that [`MobilityConfig::from_toml_str`] reads back.
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        toml::to_string(&RawConfig::from(self.clone()))
            .map_err(|e| ConfigError::Syntax(e.to_string()))
    }
}

/// An option value as any self-describing format gives it, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum RawValue {
    Bool(bool),
    Int(i64),
    Str(String),
    Float(f64),
    Table(BTreeMap<String, serde_json::Value>),
    List(Vec<serde_json::Value>),
}

impl RawValue {
    fn describe(&self) -> String {
        match self {
            RawValue::Bool(b) => b.to_string(),
            RawValue::Int(i) => i.to_string(),
            RawValue::Str(s) => format!("{s:?}"),
            RawValue::Float(f) => f.to_string(),
            RawValue::Table(_) => "a table".to_owned(),
            RawValue::List(_) => "a list".to_owned(),
        }
    }
}

type RawScope = BTreeMap<String, RawValue>;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    global: RawScope,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    domain: BTreeMap<String, RawScope>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    binding_group: BTreeMap<String, RawScope>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    binding: BTreeMap<String, RawScope>,
}

fn parse_bool(option: &str, scope: &Scope, value: &RawValue) -> Result<bool, ConfigError> {
    match value {
        RawValue::Bool(b) => Ok(*b),
        // Momentum's own files write booleans as "true"/"false" strings.
        RawValue::Str(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        RawValue::Str(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ConfigError::InvalidValue {
            option: option.to_owned(),
            scope: scope.to_string(),
            expected: "true or false".to_owned(),
            found: other.describe(),
        }),
    }
}

fn parse_named<T>(
    option: &str,
    scope: &Scope,
    value: &RawValue,
    names: &[&str],
    parse: fn(&str) -> Option<T>,
) -> Result<T, ConfigError> {
    let parsed = match value {
        RawValue::Str(s) => parse(s),
        _ => None,
    };
    parsed.ok_or_else(|| ConfigError::InvalidValue {
        option: option.to_owned(),
        scope: scope.to_string(),
        expected: format!("one of {}", quoted_list(names)),
        found: value.describe(),
    })
}

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Validates one scope's options. `global_only` receives `mm7_mstore_bucket_use_shortcode` when
/// the scope is global; elsewhere that option is an error.
fn scope_options(
    scope: &Scope,
    raw: &RawScope,
    mut global_only: Option<&mut bool>,
) -> Result<ScopeOptions, ConfigError> {
    let mut out = ScopeOptions::default();
    for (option, value) in raw {
        match option.as_str() {
            "smpp_registered_delivery" => {
                out.smpp_registered_delivery = Some(parse_named(
                    option,
                    scope,
                    value,
                    &SmppRegisteredDelivery::NAMES,
                    SmppRegisteredDelivery::parse,
                )?)
            }
            "mm7_delivery_report" => {
                out.mm7_delivery_report = Some(parse_bool(option, scope, value)?)
            }
            "mm7_mstore_save_message" => {
                out.mm7_mstore_save_message = Some(parse_bool(option, scope, value)?)
            }
            "submit_msgid_format" => {
                out.submit_msgid_format = Some(parse_named(
                    option,
                    scope,
                    value,
                    &MESSAGE_ID_FORMAT_NAMES,
                    parse_msgid_format,
                )?)
            }
            "receipt_msgid_format" => {
                out.receipt_msgid_format = Some(parse_named(
                    option,
                    scope,
                    value,
                    &MESSAGE_ID_FORMAT_NAMES,
                    parse_msgid_format,
                )?)
            }
            GLOBAL_ONLY => match global_only.as_deref_mut() {
                Some(slot) => *slot = parse_bool(option, scope, value)?,
                None => {
                    return Err(ConfigError::WrongScope {
                        option: option.clone(),
                        scope: scope.to_string(),
                        expected: "the global scope only".to_owned(),
                    });
                }
            },
            _ => {
                let mut names: Vec<&str> = SCOPED_OPTIONS.to_vec();
                if matches!(scope, Scope::Global) {
                    names.push(GLOBAL_ONLY);
                }
                return Err(ConfigError::UnknownOption {
                    option: option.clone(),
                    scope: scope.to_string(),
                    expected: names.join(", "),
                });
            }
        }
    }
    Ok(out)
}

impl TryFrom<RawConfig> for MobilityConfig {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, Self::Error> {
        let mut config = MobilityConfig::default();
        config.global = scope_options(
            &Scope::Global,
            &raw.global,
            Some(&mut config.mm7_mstore_bucket_use_shortcode),
        )?;
        for (name, options) in &raw.domain {
            let scope = Scope::Domain(name.clone());
            config
                .domain
                .insert(name.clone(), scope_options(&scope, options, None)?);
        }
        for (name, options) in &raw.binding_group {
            let scope = Scope::BindingGroup(name.clone());
            config
                .binding_group
                .insert(name.clone(), scope_options(&scope, options, None)?);
        }
        for (name, options) in &raw.binding {
            let scope = Scope::Binding(name.clone());
            config
                .binding
                .insert(name.clone(), scope_options(&scope, options, None)?);
        }
        Ok(config)
    }
}

fn raw_scope(options: &ScopeOptions) -> RawScope {
    let mut raw = RawScope::new();
    if let Some(v) = options.smpp_registered_delivery {
        raw.insert(
            "smpp_registered_delivery".into(),
            RawValue::Str(v.as_str().into()),
        );
    }
    if let Some(v) = options.mm7_delivery_report {
        raw.insert("mm7_delivery_report".into(), RawValue::Bool(v));
    }
    if let Some(v) = options.mm7_mstore_save_message {
        raw.insert("mm7_mstore_save_message".into(), RawValue::Bool(v));
    }
    if let Some(v) = options.submit_msgid_format {
        raw.insert("submit_msgid_format".into(), RawValue::Str(v.to_string()));
    }
    if let Some(v) = options.receipt_msgid_format {
        raw.insert("receipt_msgid_format".into(), RawValue::Str(v.to_string()));
    }
    raw
}

impl From<MobilityConfig> for RawConfig {
    fn from(config: MobilityConfig) -> Self {
        let mut global = raw_scope(&config.global);
        global.insert(
            GLOBAL_ONLY.into(),
            RawValue::Bool(config.mm7_mstore_bucket_use_shortcode),
        );
        let map = |m: &BTreeMap<String, ScopeOptions>| {
            m.iter()
                .map(|(k, v)| (k.clone(), raw_scope(v)))
                .collect::<BTreeMap<_, _>>()
        };
        RawConfig {
            global,
            domain: map(&config.domain),
            binding_group: map(&config.binding_group),
            binding: map(&config.binding),
        }
    }
}
