//! The query parameters of the binding's collection reads: paging (`limit`, `offset`), `filter`,
//! `sort` with `orderBy`, and `fields`; and applying them to a collection of records.
//!
//! Everything is checked before anything is read: an unknown parameter, a repeated one, a bad
//! number, a limit over [`MAX_PAGE_LIMIT`], a filter this node cannot evaluate or a field the
//! collection does not have is a 400 with the binding's code, never silently ignored (a client
//! that asked for `status='active'` must not get a different set than it asked for).
//!
//! The filter grammar is the binding's (section 3.3 of the REST binding): `field<op>'value'`
//! with `op` one of `=`, `!=`, `>`, `>=`, `<`, `<=`, `~` (contains), predicates joined by ` AND `
//! or by ` OR ` (not both in one filter), `field` a field of the record or a field of one of
//! its references (`class.sourcedId`). Values are compared as text (dates and times are ISO 8601,
//! so text order is time order); `~` ignores letter case.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// Records in a page when the client names no `limit` (the binding's default).
pub const DEFAULT_PAGE_LIMIT: usize = 100;
/// The most records one page may ask for: a large school's every user (about 4,000) in four
/// pages, while a page's JSON stays within a few megabytes.
pub const MAX_PAGE_LIMIT: usize = 1_000;
/// The longest `filter`, `sort` or `fields` value read.
pub const MAX_QUERY_VALUE_CHARS: usize = 1_024;
/// Predicates in one filter.
pub const MAX_FILTER_PREDICATES: usize = 10;

/// Why a query was refused: the binding's `imsx_codeMinor` value and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub code_minor: &'static str,
    pub description: String,
}

fn invalid(code_minor: &'static str, description: impl Into<String>) -> QueryError {
    QueryError {
        code_minor,
        description: description.into(),
    }
}

/// A comparison of a filter predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Contains,
}

/// One `field<op>'value'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predicate {
    /// The field's path: `status`, or `class.sourcedId`.
    pub field: Vec<String>,
    pub comparison: Comparison,
    pub value: String,
}

/// A whole filter: predicates that must all hold, or of which one must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionQuery {
    pub limit: usize,
    pub offset: usize,
    pub filter: Option<Filter>,
    /// The field to sort by and whether descending.
    pub sort: Option<(String, bool)>,
    /// The fields to return; all when `None`.
    pub fields: Option<Vec<String>>,
}

/// Parses the query of a collection read, for records with `fields` (the collection's field
/// names; filters and sorts name one of them, or `ref.field` for a reference among them).
pub fn parse_collection_query(
    raw: Option<&str>,
    fields: &[&str],
) -> Result<CollectionQuery, QueryError> {
    let parameters = parameters(raw)?;
    let mut query = CollectionQuery {
        limit: DEFAULT_PAGE_LIMIT,
        offset: 0,
        filter: None,
        sort: None,
        fields: None,
    };
    let mut order_by = None;
    for (name, value) in parameters {
        match name.as_str() {
            "limit" => {
                query.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|limit| (1..=MAX_PAGE_LIMIT).contains(limit))
                    .ok_or_else(|| {
                        invalid(
                            "invaliddata",
                            format!("limit must be a whole number from 1 to {MAX_PAGE_LIMIT}"),
                        )
                    })?;
            }
            "offset" => {
                query.offset = value.parse::<usize>().map_err(|_| {
                    invalid("invaliddata", "offset must be a whole number, 0 or more")
                })?;
            }
            "filter" => query.filter = Some(parse_filter(&value, fields)?),
            "sort" => {
                check_field(&value, fields, "invalid_sort_field")?;
                query.sort = Some((value, false));
            }
            "orderBy" => {
                order_by = Some(match value.as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => return Err(invalid("invaliddata", "orderBy must be asc or desc")),
                });
            }
            "fields" => query.fields = Some(parse_fields(&value, fields)?),
            other => {
                return Err(invalid(
                    "invaliddata",
                    format!("the query parameter {other:?} is not supported"),
                ));
            }
        }
    }
    match (&mut query.sort, order_by) {
        (Some((_, descending)), Some(order)) => *descending = order,
        (None, Some(_)) => return Err(invalid("invaliddata", "orderBy needs sort")),
        _ => {}
    }
    Ok(query)
}

/// Parses the query of a single-record read: only `fields` applies.
pub fn parse_single_query(
    raw: Option<&str>,
    fields: &[&str],
) -> Result<Option<Vec<String>>, QueryError> {
    let mut selected = None;
    for (name, value) in parameters(raw)? {
        if name != "fields" {
            return Err(invalid(
                "invaliddata",
                format!("the query parameter {name:?} does not apply to a single record"),
            ));
        }
        selected = Some(parse_fields(&value, fields)?);
    }
    Ok(selected)
}

/// The parameters, refusing repeated and overlong ones.
fn parameters(raw: Option<&str>) -> Result<Vec<(String, String)>, QueryError> {
    let mut parameters: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if value.chars().count() > MAX_QUERY_VALUE_CHARS {
            return Err(invalid(
                "invaliddata",
                format!("{name} is longer than {MAX_QUERY_VALUE_CHARS} characters"),
            ));
        }
        if parameters.iter().any(|(seen, _)| *seen == name) {
            return Err(invalid(
                "invaliddata",
                format!("the query parameter {name:?} is repeated"),
            ));
        }
        parameters.push((name.into_owned(), value.into_owned()));
    }
    Ok(parameters)
}

/// A field a filter or sort may name: one of `fields`, or `ref.field` below one of them.
fn check_field(
    field: &str,
    fields: &[&str],
    code_minor: &'static str,
) -> Result<Vec<String>, QueryError> {
    let path: Vec<String> = field.split('.').map(str::to_owned).collect();
    let known = match path.as_slice() {
        [single] => fields.contains(&single.as_str()),
        [reference, inner] => {
            fields.contains(&reference.as_str())
                && ["sourcedId", "type", "href"].contains(&inner.as_str())
        }
        _ => false,
    };
    if known {
        Ok(path)
    } else {
        Err(invalid(
            code_minor,
            format!("{field:?} is not a field of this collection"),
        ))
    }
}

fn parse_fields(value: &str, fields: &[&str]) -> Result<Vec<String>, QueryError> {
    let mut selected = Vec::new();
    for field in value.split(',').map(str::trim) {
        if !fields.contains(&field) {
            return Err(invalid(
                "invalid_selection_field",
                format!("{field:?} is not a field of this collection"),
            ));
        }
        selected.push(field.to_owned());
    }
    Ok(selected)
}

/// Parses a filter (see the module documentation).
pub fn parse_filter(text: &str, fields: &[&str]) -> Result<Filter, QueryError> {
    let bad = |reason: &str| invalid("invalid_filter_field", format!("filter: {reason}"));
    let mut predicates = Vec::new();
    let mut connective: Option<&str> = None;
    let mut rest = text.trim();
    loop {
        let field_end = rest
            .find(|character: char| "=!<>~".contains(character))
            .ok_or_else(|| bad("expected field<op>'value'"))?;
        let field = rest[..field_end].trim();
        let after_field = &rest[field_end..];
        let (comparison, operator_length) = [
            ("!=", Comparison::NotEqual),
            (">=", Comparison::GreaterOrEqual),
            ("<=", Comparison::LessOrEqual),
            ("=", Comparison::Equal),
            (">", Comparison::Greater),
            ("<", Comparison::Less),
            ("~", Comparison::Contains),
        ]
        .into_iter()
        .find(|(operator, _)| after_field.starts_with(operator))
        .map(|(operator, comparison)| (comparison, operator.len()))
        .ok_or_else(|| bad("unknown operator"))?;
        let after_operator = after_field[operator_length..].trim_start();
        let Some(quoted) = after_operator.strip_prefix('\'') else {
            return Err(bad("a value must be in single quotes"));
        };
        let value_end = quoted
            .find('\'')
            .ok_or_else(|| bad("a value's closing quote is missing"))?;
        let path = check_field(field, fields, "invalid_filter_field")?;
        predicates.push(Predicate {
            field: path,
            comparison,
            value: quoted[..value_end].to_owned(),
        });
        if predicates.len() > MAX_FILTER_PREDICATES {
            return Err(bad(&format!(
                "at most {MAX_FILTER_PREDICATES} predicates are evaluated"
            )));
        }
        rest = quoted[value_end + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        let (word, after_word) = rest
            .split_once(' ')
            .ok_or_else(|| bad("expected AND or OR between predicates"))?;
        if word != "AND" && word != "OR" {
            return Err(bad("expected AND or OR between predicates"));
        }
        if connective.is_some_and(|seen| seen != word) {
            return Err(bad("AND and OR cannot be mixed in one filter"));
        }
        connective = Some(if word == "AND" { "AND" } else { "OR" });
        rest = after_word.trim_start();
    }
    Ok(match connective {
        Some("OR") => Filter::Any(predicates),
        _ => Filter::All(predicates),
    })
}

/// The text a record holds at `path`, if it holds a scalar there (a list holds each of its
/// scalars; a predicate on a list holds when it holds for one of them).
fn values_at<'a>(record: &'a Value, path: &[String]) -> Vec<String> {
    let mut current = record;
    for key in path {
        match current.get(key) {
            Some(next) => current = next,
            None => return Vec::new(),
        }
    }
    let scalar = |value: &'a Value| match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };
    match current {
        Value::Array(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

impl Predicate {
    fn holds(&self, record: &Value) -> bool {
        let values = values_at(record, &self.field);
        let test = |actual: &String| match self.comparison {
            Comparison::Equal => *actual == self.value,
            Comparison::NotEqual => *actual != self.value,
            Comparison::Greater => actual.as_str() > self.value.as_str(),
            Comparison::GreaterOrEqual => actual.as_str() >= self.value.as_str(),
            Comparison::Less => actual.as_str() < self.value.as_str(),
            Comparison::LessOrEqual => actual.as_str() <= self.value.as_str(),
            Comparison::Contains => actual.to_lowercase().contains(&self.value.to_lowercase()),
        };
        // A record without the field (a name the service may not receive) matches only `!=`.
        if values.is_empty() {
            return self.comparison == Comparison::NotEqual;
        }
        values.iter().any(test)
    }
}

impl Filter {
    pub fn matches(&self, record: &Value) -> bool {
        match self {
            Filter::All(predicates) => predicates.iter().all(|predicate| predicate.holds(record)),
            Filter::Any(predicates) => predicates.iter().any(|predicate| predicate.holds(record)),
        }
    }
}

/// The page of `records` the query asks for, and how many matched in all.
pub fn apply(mut records: Vec<Value>, query: &CollectionQuery) -> (Vec<Value>, usize) {
    if let Some(filter) = &query.filter {
        records.retain(|record| filter.matches(record));
    }
    let sort_key = |record: &Value, field: &str| {
        values_at(
            record,
            &field.split('.').map(str::to_owned).collect::<Vec<_>>(),
        )
        .into_iter()
        .next()
    };
    match &query.sort {
        Some((field, descending)) => records.sort_by(|first, second| {
            let order = sort_key(first, field)
                .cmp(&sort_key(second, field))
                .then_with(|| sort_key(first, "sourcedId").cmp(&sort_key(second, "sourcedId")));
            if *descending { order.reverse() } else { order }
        }),
        None => records.sort_by(|first, second| {
            sort_key(first, "sourcedId")
                .cmp(&sort_key(second, "sourcedId"))
                .then(Ordering::Equal)
        }),
    }
    let total = records.len();
    let page: Vec<Value> = records
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .map(|record| select(record, query.fields.as_deref()))
        .collect();
    (page, total)
}

/// `record` with only the `fields` asked for (all when none were named).
pub fn select(record: Value, fields: Option<&[String]>) -> Value {
    match (record, fields) {
        (Value::Object(object), Some(fields)) => Value::Object(
            object
                .into_iter()
                .filter(|(key, _)| fields.contains(key))
                .collect::<Map<String, Value>>(),
        ),
        (record, _) => record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[&str] = &["sourcedId", "status", "givenName", "class", "grades"];

    fn check_filter(filter: &str, record: Value, expected: bool) {
        let parsed = parse_filter(filter, FIELDS).expect("parses");
        assert_eq!(parsed.matches(&record), expected, "{filter} on {record}");
    }

    #[test]
    fn oneroster_filters_evaluate_as_the_binding_says() {
        let record = json!({"sourcedId": "U1", "status": "active", "givenName": "Aino",
            "class": {"sourcedId": "CLS-7A", "type": "class"}, "grades": ["07", "08"]});
        check_filter("status='active'", record.clone(), true);
        check_filter("status!='active'", record.clone(), false);
        check_filter("status='active' AND givenName~'ain'", record.clone(), true);
        check_filter(
            "status='tobedeleted' OR givenName='Aino'",
            record.clone(),
            true,
        );
        check_filter(
            "status='tobedeleted' AND givenName='Aino'",
            record.clone(),
            false,
        );
        check_filter("class.sourcedId='CLS-7A'", record.clone(), true);
        check_filter("grades='08'", record.clone(), true);
        check_filter("sourcedId>='U0'", record.clone(), true);
        check_filter("givenName='Aino'", json!({"sourcedId": "U2"}), false);
    }

    #[test]
    fn oneroster_bad_queries_are_refused_not_ignored() {
        for bad in [
            "status",
            "status='active",
            "status=active",
            "unknown='x'",
            "class.title='x'",
            "status='a' AND givenName='b' OR sourcedId='c'",
            "status='a' XOR givenName='b'",
            "status=='a'",
        ] {
            assert!(parse_filter(bad, FIELDS).is_err(), "{bad}");
        }
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "offset=-1",
            "offset=1.5",
            "sort=unknown",
            "orderBy=desc",
            "sort=status&orderBy=up",
            "fields=status,password",
            "page=2",
            "limit=5&limit=6",
        ] {
            assert!(parse_collection_query(Some(bad), FIELDS).is_err(), "{bad}");
        }
        let query =
            parse_collection_query(Some("limit=1000&offset=7&sort=status&orderBy=desc"), FIELDS)
                .expect("valid");
        assert_eq!((query.limit, query.offset), (1000, 7));
        assert_eq!(query.sort, Some(("status".to_owned(), true)));
        assert_eq!(
            parse_collection_query(None, FIELDS).expect("valid").limit,
            DEFAULT_PAGE_LIMIT
        );
    }

    #[test]
    fn oneroster_pages_sort_and_select() {
        let records: Vec<Value> = ["C", "A", "B"]
            .iter()
            .map(|id| json!({"sourcedId": id, "status": "active"}))
            .collect();
        let query = parse_collection_query(Some("limit=2&offset=1&fields=sourcedId"), FIELDS)
            .expect("valid");
        let (page, total) = apply(records, &query);
        assert_eq!(total, 3);
        assert_eq!(page, [json!({"sourcedId": "B"}), json!({"sourcedId": "C"})]);
    }
}
