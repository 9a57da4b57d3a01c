//! How a JavaScript failure reaches users: the exception's message and stack, an interruption,
//! or a module that could not be loaded.

use rquickjs::{CaughtError, Ctx};

/// A JavaScript failure, formatted for users.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JsError {
    /// An exception thrown by the script (message and JS stack). `rejected`: it rejected the
    /// promise of an `async` function the run called (`default`, `setup()` …) instead of being
    /// thrown by the call; k6 v1.1.0 words it `Uncaught (in promise) …` and ends a run whose
    /// `setup()` or `teardown()` rejected with exit 255, not 107 (docs/exit-codes.md).
    #[error("{message}")]
    Exception {
        message: String,
        stack: String,
        rejected: bool,
    },
    /// The VU was interrupted (stop, gracefulStop expired, test.abort()).
    #[error("interrupted")]
    Interrupted,
    /// A module could not be found or read.
    #[error("{0}")]
    Load(String),
}

impl JsError {
    pub fn from_caught(e: CaughtError<'_>, ctx: &Ctx<'_>) -> JsError {
        Self::caught(e, ctx, false)
    }

    /// The error a promise rejected with, as the rejection of an `async` function's promise:
    /// k6 v1.1.0 prints it `Uncaught (in promise) Error: boom`, the error's name included.
    pub fn from_rejection(e: CaughtError<'_>, ctx: &Ctx<'_>) -> JsError {
        Self::caught(e, ctx, true)
    }

    fn caught(e: CaughtError<'_>, _ctx: &Ctx<'_>, rejected: bool) -> JsError {
        match e {
            CaughtError::Exception(ex) => {
                let msg = ex.message().unwrap_or_default();
                let name = ex
                    .get::<_, Option<String>>("name")
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "Error".into());
                if name == "InternalError" && msg == "interrupted" {
                    return JsError::Interrupted;
                }
                let message = if msg.is_empty() {
                    name
                } else if name == "Error" && !rejected {
                    msg
                } else {
                    format!("{name}: {msg}")
                };
                JsError::Exception {
                    message,
                    stack: ex.stack().unwrap_or_default(),
                    rejected,
                }
            }
            CaughtError::Value(v) => {
                // Any other value as JS converts it to text (a Go error k6 rejects with reads
                // as its message), as k6 prints it.
                let s = v
                    .as_string()
                    .and_then(|s| s.to_string().ok())
                    .or_else(|| v.as_number().map(|n| n.to_string()))
                    .or_else(|| {
                        v.is_object()
                            .then(|| v.get::<rquickjs::Coerced<String>>().ok().map(|c| c.0))
                            .flatten()
                    })
                    .unwrap_or_else(|| format!("{:?}", v.type_of()));
                JsError::Exception {
                    message: s,
                    stack: String::new(),
                    rejected,
                }
            }
            CaughtError::Error(e) => {
                let s = e.to_string();
                if e.is_resolving() || e.is_loading() {
                    JsError::Load(s)
                } else {
                    JsError::Exception {
                        message: s,
                        stack: String::new(),
                        rejected,
                    }
                }
            }
        }
    }

    /// QuickJS could not allocate: the runtime reached its memory limit (or the process ran
    /// out of memory).
    pub fn is_out_of_memory(&self) -> bool {
        match self {
            // Thrown by QuickJS, or rquickjs's Error::Allocation from a native.
            JsError::Exception { message, .. } => {
                message == "InternalError: out of memory"
                    || message == "Allocation failed while creating object"
            }
            JsError::Load(m) => m.contains("out of memory") || m.contains("Allocation failed"),
            JsError::Interrupted => false,
        }
    }

    /// Whether this is a rejected promise of an `async` function (see [`JsError::Exception`]).
    pub fn is_rejection(&self) -> bool {
        matches!(self, JsError::Exception { rejected: true, .. })
    }

    /// Message plus the JS stack ("at ..." lines), as k6 prints exceptions; a rejection starts
    /// `Uncaught (in promise) `, as k6 v1.1.0 prints it.
    pub fn with_stack(&self) -> String {
        let prefix = if self.is_rejection() {
            "Uncaught (in promise) "
        } else {
            ""
        };
        match self {
            JsError::Exception { message, stack, .. } if !stack.trim().is_empty() => {
                format!("{prefix}{message}\n{}", stack.trim_end())
            }
            other => format!("{prefix}{other}"),
        }
    }
}
