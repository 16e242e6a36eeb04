//! `GET /sobjects/{Lead|Contact}/describe` (plugin/SALESFORCE.md §5), evaluated for the
//! integration user: hidden fields are absent, read-only fields are `updateable: false`.

use serde_json::{Value as Json, json};

use crate::error::ApiError;
use crate::http::{Req, Resp};
use crate::model::SObject;
use crate::router::ApiVersion;
use crate::schema::{FieldInfo, FieldRef, FieldType, ObjectSchema};
use crate::state::State;
use crate::time;

/// One field entry, with the full property list of a real describe payload. Values for
/// `HasOptedOutOfEmail` such as `defaultValue` and `permissionable` are UNCONFIRMED
/// (`plugin/SALESFORCE.md` §5.2); the typical values of a standard checkbox are used.
fn field_json(info: &FieldInfo<'_>, object: SObject) -> Json {
    let is_bool = info.ty == FieldType::Boolean;
    let is_id = info.ty == FieldType::Id;
    let system = matches!(
        info.field,
        FieldRef::Id
            | FieldRef::IsDeleted
            | FieldRef::MasterRecordId
            | FieldRef::IsConverted
            | FieldRef::ConvertedContactId
            | FieldRef::LastModifiedDate
    );
    let (reference_to, relationship_name) = match info.field {
        FieldRef::MasterRecordId => (vec![object.name()], Some("MasterRecord")),
        FieldRef::ConvertedContactId => (vec!["Contact"], Some("ConvertedContact")),
        _ => (vec![], None),
    };
    let byte_length = match info.ty {
        FieldType::String | FieldType::Email => info.length * 3,
        FieldType::Id | FieldType::Reference => 18,
        _ => 0,
    };
    let entries: [(&str, Json); 53] = [
        ("aggregatable", json!(!is_bool)),
        ("autoNumber", json!(false)),
        ("byteLength", json!(byte_length)),
        ("calculated", json!(false)),
        ("calculatedFormula", Json::Null),
        ("cascadeDelete", json!(false)),
        ("caseSensitive", json!(false)),
        ("compoundFieldName", Json::Null),
        ("controllerName", Json::Null),
        ("createable", json!(info.updateable)),
        ("custom", json!(info.custom)),
        (
            "defaultValue",
            json!(if is_bool {
                Json::Bool(false)
            } else {
                Json::Null
            }),
        ),
        ("defaultValueFormula", Json::Null),
        ("defaultedOnCreate", json!(is_bool || system)),
        ("dependentPicklist", json!(false)),
        ("deprecatedAndHidden", json!(false)),
        ("digits", json!(0)),
        ("displayLocationInDecimal", json!(false)),
        ("encrypted", json!(false)),
        ("externalId", json!(false)),
        ("extraTypeInfo", Json::Null),
        ("filterable", json!(true)),
        ("filteredLookupInfo", Json::Null),
        ("groupable", json!(info.ty != FieldType::DateTime)),
        ("highScaleNumber", json!(false)),
        ("htmlFormatted", json!(false)),
        ("idLookup", json!(is_id || info.ty == FieldType::Email)),
        ("inlineHelpText", Json::Null),
        ("label", json!(info.label)),
        ("length", json!(info.length)),
        ("mask", Json::Null),
        ("maskType", Json::Null),
        ("name", json!(info.name)),
        ("nameField", json!(false)),
        ("namePointing", json!(false)),
        ("nillable", json!(info.nillable)),
        (
            "permissionable",
            json!(!system && info.field != FieldRef::LastName),
        ),
        ("picklistValues", json!([])),
        ("precision", json!(0)),
        ("queryByDistance", json!(false)),
        ("referenceTargetField", Json::Null),
        ("referenceTo", json!(reference_to)),
        ("relationshipName", json!(relationship_name)),
        ("relationshipOrder", Json::Null),
        ("restrictedDelete", json!(false)),
        ("restrictedPicklist", json!(false)),
        ("scale", json!(0)),
        ("soapType", json!(info.ty.soap_type())),
        ("sortable", json!(true)),
        ("type", json!(info.ty.name())),
        ("unique", json!(false)),
        ("updateable", json!(info.updateable)),
        ("writeRequiresMasterRead", json!(false)),
    ];
    Json::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// The DescribeSObjectResult body.
pub fn describe_json(schema: &ObjectSchema, version: ApiVersion) -> Json {
    let object = schema.object;
    let base = format!("{}/sobjects/{}", version.prefix(), object.name());
    let fields: Vec<Json> = schema
        .visible_fields()
        .iter()
        .map(|f| field_json(f, object))
        .collect();
    json!({
        "name": object.name(),
        "label": object.name(),
        "labelPlural": object.label_plural(),
        "keyPrefix": object.key_prefix(),
        "custom": false,
        "customSetting": false,
        "createable": true,
        "updateable": true,
        "queryable": true,
        "retrieveable": true,
        "searchable": true,
        "deletable": true,
        "undeletable": true,
        "mergeable": true,
        "triggerable": true,
        "layoutable": true,
        "replicateable": true,
        "activateable": false,
        "feedEnabled": false,
        "urls": {
            "sobject": base,
            "describe": format!("{base}/describe"),
            "rowTemplate": format!("{base}/{{ID}}")
        },
        "childRelationships": [],
        "recordTypeInfos": [],
        "fields": fields
    })
}

/// `GET /sobjects/{type}/describe`, with `If-Modified-Since` → 304 when the object's
/// metadata (custom fields, field-level security) has not changed since.
pub fn describe(
    state: &State,
    req: &Req,
    version: ApiVersion,
    object: Result<SObject, String>,
) -> Resp {
    let Ok(object) = object else {
        return ApiError::not_found().into();
    };
    if req.method != "GET" {
        return ApiError::method_not_allowed(&req.method, "GET,HEAD").into();
    }
    let org = state.org();
    let schema = org.schema(object);
    let modified_s = schema.modified_ms.div_euclid(1000);
    if let Some(since) = req
        .header("if-modified-since")
        .and_then(time::parse_http_date)
        && modified_s <= since.div_euclid(1000)
    {
        return Resp::empty(304);
    }
    Resp::json(200, &describe_json(schema, version))
        .with_header("last-modified", time::format_http_date(schema.modified_ms))
}
