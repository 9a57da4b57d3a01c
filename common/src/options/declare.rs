//! The macro that turns the option table in [`super::fields`] into everything an option needs:
//! the layer struct [`super::Options`], the resolved struct [`super::ResolvedOptions`], the
//! known-keys list, reading from the script's JSON, from `K6_*` variables and from CLI flags,
//! layering, JSON export and resolution. Hand-written rules that span options (the execution
//! shortcuts, cross-option checks) live in [`super::resolve`] and are called from here.
//!
//! Each entry reads
//! `field: Type as Format = "jsKey" [, env "K6_X" | "K6_Y"] [, cli(long "x", [short 'x',] help "...")]`
//! and, for settings, `=> ResolvedType = how`, where `how` is `or(default)`, `keep` (the
//! resolved value is the `Option` as layered) or `with(function)` (a function of the layered
//! value that may add problems in k6's wording).

macro_rules! declare_options {
    (
        shortcuts {
            $(
                $(#[doc = $sdoc:literal])*
                $sfield:ident: $sty:ty as $sfmt:ident = $skey:literal
                $(, env $($senv:literal)|+)?
                $(, cli($($scli:tt)*))?
                ;
            )*
        }
        settings {
            $(
                $(#[doc = $doc:literal])*
                $field:ident: $ty:ty as $fmt:ident = $key:literal
                $(, env $($env:literal)|+)?
                $(, cli($($cli:tt)*))?
                => $rty:ty = $how:ident $(($($arg:tt)*))?
                ;
            )*
        }
    ) => {
        /// k6 options from one layer (script, env or CLI). `None` means "not set in this layer".
        ///
        /// Integers that k6 validates later (`vus`, `iterations`) are kept signed so that
        /// `vus: -1` reaches [`Options::resolve`] and fails there with k6's own message.
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct Options {
            $( $(#[doc = $sdoc])* pub $sfield: Option<$sty>, )*
            $( $(#[doc = $doc])* pub $field: Option<$ty>, )*
            /// The layer's JSON as given, so keys Volley does not model survive into archives.
            pub raw: Option<serde_json::Value>,
        }

        /// Options after shortcuts, validation and defaults: what a run actually uses.
        #[derive(Debug, Clone, PartialEq)]
        pub struct ResolvedOptions {
            /// Ordered as k6 prints them: by `startTime`, then by name.
            pub scenarios: Vec<$crate::options::ScenarioConfig>,
            $( $(#[doc = $doc])* pub $field: $rty, )*
            /// Things k6 warns about but runs anyway (e.g. `vus` without `duration`/`iterations`).
            pub warnings: Vec<String>,
            /// The consolidated options this was resolved from.
            pub options: Options,
        }

        /// Option keys Volley models; other keys of the script's object survive only through
        /// [`Options::raw`].
        pub const KNOWN_KEYS: &[&str] = &[$($skey,)* $($key,)*];

        /// The `volley run` flags that set options, in declaration order.
        pub const CLI_FLAGS: &[$crate::options::CliFlag] = &[
            $($( declare_options!(@flag $sfield, $sfmt, $skey, $($scli)*), )?)*
            $($( declare_options!(@flag $field, $fmt, $key, $($cli)*), )?)*
        ];

        impl Options {
            /// Reads the script's exported `options` (the engine's `JSON.stringify` of it).
            /// Unknown keys are ignored like k6 does, but kept in [`Options::raw`]; wrong types
            /// are errors naming the option, e.g.
            /// `options.vus must be a non-negative integer, got "ten"`.
            pub fn from_script_json(v: &serde_json::Value) -> Result<Options, $crate::options::OptionsError> {
                use $crate::options::formats::Format;
                let obj = match v {
                    serde_json::Value::Null => return Ok(Options::default()),
                    serde_json::Value::Object(obj) => obj,
                    _ => return Err($crate::options::json::type_err("options", "an object", v)),
                };
                let get = |key: &str| obj.get(key).unwrap_or(&$crate::options::json::NULL);
                Ok(Options {
                    $( $sfield: <$sfmt as Format>::read_json(get($skey), concat!("options.", $skey))?, )*
                    $( $field: <$fmt as Format>::read_json(get($key), concat!("options.", $key))?, )*
                    raw: Some(v.clone()),
                })
            }

            /// Reads k6's `K6_*` environment variables (e.g. `K6_VUS`, `K6_DURATION`,
            /// `K6_STAGES=30s:10,1m:0`, `K6_SETUP_TIMEOUT`). Empty values count as unset.
            pub fn from_env(
                env: &std::collections::BTreeMap<String, String>,
            ) -> Result<Options, $crate::options::OptionsError> {
                Ok(Options {
                    $( $sfield: declare_options!(@env env, $sfmt $(, $($senv),+)?), )*
                    $( $field: declare_options!(@env env, $fmt $(, $($env),+)?), )*
                    raw: None,
                })
            }

            /// Reads the CLI layer: `given(key)` returns the values of the flag that sets the
            /// option `key` ([`CLI_FLAGS`]), an empty list for a switch that is on, `None`
            /// when the flag was not given.
            pub fn from_cli(
                given: impl Fn(&str) -> Option<Vec<String>>,
            ) -> Result<Options, $crate::options::OptionsError> {
                Ok(Options {
                    $( $sfield: declare_options!(@cli given, $sfmt, $skey $(, $($scli)*)?), )*
                    $( $field: declare_options!(@cli given, $fmt, $key $(, $($cli)*)?), )*
                    raw: None,
                })
            }

            /// Merges a higher-priority layer on top of this one (call it for env, then CLI).
            ///
            /// As in k6, setting any of `duration`, `iterations`, `stages` or `scenarios` in a
            /// higher layer discards all four from the lower layers, so `--duration 10s`
            /// replaces a script's scenarios instead of conflicting with them. `vus` alone
            /// does not.
            pub fn apply(&mut self, higher: &Options) {
                use $crate::options::formats::Format;
                self.clear_execution_overridden_by(higher);
                $( <$sfmt as Format>::merge(&mut self.$sfield, &higher.$sfield); )*
                $( <$fmt as Format>::merge(&mut self.$field, &higher.$field); )*
                self.merge_raw(higher);
            }

            /// The options in k6's JSON shape (camelCase keys, durations as Go strings), only
            /// the fields that are set, plus unknown keys from [`Options::raw`]. Re-parseable
            /// by [`Options::from_script_json`].
            pub fn to_json(&self) -> serde_json::Value {
                use $crate::options::formats::Format;
                let mut m = self.unknown_keys();
                $( if let Some(v) = &self.$sfield {
                    m.insert($skey.to_string(), <$sfmt as Format>::write_json(v));
                } )*
                $( if let Some(v) = &self.$field {
                    m.insert($key.to_string(), <$fmt as Format>::write_json(v));
                } )*
                serde_json::Value::Object(m)
            }

            /// Applies k6's shortcut rules, validates everything and fills in defaults.
            ///
            /// Shortcuts: `iterations` (+`vus`, +`duration` as `maxDuration`) →
            /// shared-iterations; `duration` (+`vus`) → constant-vus; `stages` (+`vus` as
            /// `startVUs`) → ramping-vus; none of them and no scenarios → per-vu-iterations
            /// with 1 VU × 1 iteration. All are named `default`. Errors read like k6's
            /// (`There were problems with the specified script configuration:\n\t- scenario
            /// default has configuration errors: ...`).
            pub fn resolve(&self) -> Result<ResolvedOptions, $crate::options::OptionsError> {
                let mut warnings = Vec::new();
                let mut scenarios = self.derive_scenarios(&mut warnings)?;
                let mut problems = $crate::options::resolve::scenario_problems(&scenarios);
                $( let $field: $rty = declare_options!(@resolve self.$field, problems, $how $(($($arg)*))?); )*
                if !problems.is_empty() {
                    return Err($crate::options::OptionsError::config_problems(&problems));
                }
                $crate::options::resolve::sort_scenarios(&mut scenarios);
                Ok(ResolvedOptions {
                    scenarios,
                    $( $field, )*
                    warnings,
                    options: self.clone(),
                })
            }
        }
    };

    (@env $env:ident, $fmt:ident) => { None };
    (@env $env:ident, $fmt:ident, $($var:literal),+) => {
        $crate::options::formats::from_env::<$fmt>($env, &[$($var),+])?
    };

    (@cli $given:ident, $fmt:ident, $key:literal) => { None };
    (@cli $given:ident, $fmt:ident, $key:literal, long $long:literal $($rest:tt)*) => {
        match $given($key) {
            Some(values) => Some(<$fmt as $crate::options::formats::CliFormat>::parse_cli(
                &values,
                concat!("--", $long),
            )?),
            None => None,
        }
    };

    (@flag $field:ident, $fmt:ident, $key:literal,
        long $long:literal $(, short $short:literal)?, help $help:literal) => {
        $crate::options::CliFlag {
            key: $key,
            field: stringify!($field),
            long: $long,
            short: declare_options!(@some $($short)?),
            help: $help,
            shape: <$fmt as $crate::options::formats::CliFormat>::SHAPE,
        }
    };
    (@some) => { None };
    (@some $v:literal) => { Some($v) };

    (@resolve $v:expr, $problems:ident, or($default:expr)) => {
        $crate::options::resolve::or_default(&$v, || $default)
    };
    (@resolve $v:expr, $problems:ident, keep) => {
        Clone::clone(&$v)
    };
    (@resolve $v:expr, $problems:ident, with($f:path)) => {
        $f(&$v, &mut $problems)
    };
}
