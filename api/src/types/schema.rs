//! OpenAPI schemas of the status enums of `volley-common`, made from their own tables
//! (`ALL`, `number`, `name`), so a new status shows in the document without touching it.

use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::Object;
use volley_common::status::{ProcessingStatus, ResultStatus, RunStatus};

/// An integer enum whose description names every number.
fn numbered(numbers: Vec<i32>, names: Vec<&str>, note: &str) -> Object {
    let description = numbers
        .iter()
        .zip(&names)
        .map(|(n, name)| format!("{n} {name}"))
        .collect::<Vec<_>>()
        .join(", ");
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Integer))
        .enum_values(Some(numbers))
        .description(Some(format!("{description}.{note}")))
        .build()
}

/// `run_status`: k6 cloud's numbers.
pub fn run_status() -> Object {
    numbered(
        RunStatus::ALL.iter().map(|s| s.number()).collect(),
        RunStatus::ALL.iter().map(|s| s.name()).collect(),
        &format!(
            " Terminal (never changes again): {}.",
            RunStatus::ALL
                .iter()
                .filter(|s| s.is_terminal())
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// `processing_status`.
pub fn processing_status() -> Object {
    numbered(
        ProcessingStatus::ALL.iter().map(|s| s.number()).collect(),
        ProcessingStatus::ALL.iter().map(|s| s.name()).collect(),
        "",
    )
}

/// `result_status`.
pub fn result_status() -> Object {
    numbered(
        ResultStatus::ALL.iter().map(|s| s.number()).collect(),
        ResultStatus::ALL.iter().map(|s| s.name()).collect(),
        "",
    )
}
