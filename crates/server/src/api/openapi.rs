//! The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`.
//! Kept by hand next to the routes (api/mod.rs); a test checks that every
//! route is documented.

use axum::Json;
use serde_json::{Value, json};

pub async fn document() -> Json<Value> {
    Json(spec())
}

fn op(summary: &str, body: Option<&str>, ok: &str) -> Value {
    let mut o = json!({
        "summary": summary,
        "security": [{ "bearer": [] }],
        "responses": {
            ok: { "description": "Success", "content": { "application/json": { "schema": { "type": "object" } } } },
            "400": { "$ref": "#/components/responses/Error" },
            "401": { "$ref": "#/components/responses/Error" },
            "404": { "$ref": "#/components/responses/Error" }
        }
    });
    if let Some(schema) = body {
        o["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
        });
    }
    o
}

fn path_param(name: &str) -> Value {
    json!([{ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }])
}

fn query_param(name: &str, ty: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": ty } })
}

pub fn spec() -> Value {
    let mut paths = serde_json::Map::new();
    let mut add = |path: &str, method: &str, v: Value| {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = v;
    };
    add("/api/v1/whoami", "get", op("The calling token's account", None, "200"));
    add(
        "/api/v1/findings/search",
        "post",
        op("Search findings with GuardDuty-style criteria", Some("SearchRequest"), "200"),
    );
    add(
        "/api/v1/findings/statistics",
        "get",
        op("New findings per time bucket and severity (query: from, to, bucket=minute|hour|day)", None, "200"),
    );
    add("/api/v1/findings/archive", "post", op("Archive findings", Some("FindingIds"), "200"));
    add("/api/v1/findings/unarchive", "post", op("Unarchive findings", Some("FindingIds"), "200"));
    let mut get_one = op("One finding (GuardDuty-shaped JSON)", None, "200");
    get_one["parameters"] = path_param("id");
    add("/api/v1/findings/{id}", "get", get_one);
    add("/api/v1/filters", "get", op("Suppression rules (filters) visible to the caller, by rank", None, "200"));
    let mut put_filter =
        op("Create or replace a filter; ARCHIVE also archives stored findings it matches", Some("Filter"), "200");
    put_filter["parameters"] = path_param("name");
    add("/api/v1/filters/{name}", "put", put_filter);
    let mut del_filter = op("Delete a filter", None, "200");
    del_filter["parameters"] = path_param("name");
    add("/api/v1/filters/{name}", "delete", del_filter);
    add("/api/v1/lists", "get", op("Threat and trusted lists", None, "200"));
    add(
        "/api/v1/lists",
        "post",
        op("Upload a list (parsed at once; 422 when it has no usable entry)", Some("ListUpload"), "201"),
    );
    for action in ["activate", "deactivate"] {
        let mut o = op(&format!("{action} a list; agents fetch the change without restarting"), None, "200");
        o["parameters"] = path_param("id");
        add(&format!("/api/v1/lists/{{id}}/{action}"), "post", o);
    }
    let mut del_list = op("Delete a list", None, "200");
    del_list["parameters"] = path_param("id");
    add("/api/v1/lists/{id}", "delete", del_list);
    add(
        "/api/v1/coverage",
        "get",
        op("Agent and ECS cluster health, coverage percentages, recent health changes", None, "200"),
    );
    let mut telemetry = op(
        "Raw telemetry for hunting (agents with send_telemetry), newest first; filters combine with AND",
        None,
        "200",
    );
    telemetry["parameters"] = json!([
        query_param("kind", "string", "An event kind (process.exec), or a family ending in .* (net.*)"),
        query_param("agentId", "string", "The agent's id"),
        query_param("since", "string", "Event time, inclusive (RFC 3339)"),
        query_param("until", "string", "Event time, exclusive (RFC 3339)"),
        query_param("executable", "string", "The process's executable path or name, exactly"),
        query_param("container", "string", "A container id, a prefix of one, or a container name"),
        query_param("cluster", "string", "An ECS cluster name"),
        query_param("remoteIp", "string", "net.remoteAddress, exactly"),
        query_param("dnsName", "string", "The first question's name of a DNS message, exactly"),
        query_param("contains", "string", "A substring of the event JSON (case-sensitive)"),
        query_param("maxResults", "integer", "1 to 1000 (default 100)"),
        query_param("nextToken", "string", "From the previous page"),
    ]);
    add("/api/v1/telemetry", "get", telemetry);
    add("/api/v1/accounts", "get", op("Accounts visible to the caller", None, "200"));
    add("/api/v1/accounts", "post", op("Create a member account (administrator)", Some("NewAccount"), "201"));
    let mut issue = op("Issue a token (shown once)", Some("NewToken"), "201");
    issue["parameters"] = path_param("id");
    add("/api/v1/accounts/{id}/tokens", "post", issue);
    add("/api/v1/tokens", "get", op("Tokens visible to the caller (never the secret)", None, "200"));
    let mut revoke = op("Revoke a token", None, "200");
    revoke["parameters"] = path_param("id");
    add("/api/v1/tokens/{id}", "delete", revoke);
    add("/api/v1/settings", "get", op("Server settings", None, "200"));
    add("/api/v1/settings", "put", op("Change server settings (administrator)", Some("Settings"), "200"));

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Saker API",
            "version": "1",
            "description": "Findings, suppression rules, threat lists, coverage, raw telemetry and accounts of a Saker server. Every error is {\"error\": {\"code\", \"message\"}}."
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "an `sk_api_…` token" } },
            "responses": {
                "Error": {
                    "description": "A client or server error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            },
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": { "error": { "type": "object", "required": ["code", "message"],
                        "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } }
                },
                "Criteria": {
                    "type": "object",
                    "description": "GuardDuty FindingCriteria: {criterion: {field: {eq, neq, gt, gte, lt, lte, matches, notMatches}}}; wildcards * and ? in matches",
                    "properties": { "criterion": { "type": "object", "additionalProperties": { "type": "object" } } }
                },
                "SearchRequest": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "findingCriteria": { "$ref": "#/components/schemas/Criteria" },
                        "sortCriteria": { "type": "object", "properties": {
                            "attributeName": { "enum": ["updatedAt", "createdAt", "severity", "count", "type"] },
                            "orderBy": { "enum": ["ASC", "DESC"] } } },
                        "maxResults": { "type": "integer", "minimum": 1, "maximum": 500 },
                        "nextToken": { "type": "string" }
                    }
                },
                "FindingIds": {
                    "type": "object", "required": ["findingIds"], "additionalProperties": false,
                    "properties": { "findingIds": { "type": "array", "items": { "type": "string" }, "minItems": 1, "maxItems": 1000 } }
                },
                "Filter": {
                    "type": "object", "required": ["action", "rank", "findingCriteria"], "additionalProperties": false,
                    "properties": {
                        "description": { "type": "string", "maxLength": 512 },
                        "action": { "enum": ["ARCHIVE", "NOOP"] },
                        "rank": { "type": "integer", "minimum": 0 },
                        "findingCriteria": { "$ref": "#/components/schemas/Criteria" }
                    }
                },
                "ListUpload": {
                    "type": "object", "required": ["name", "kind", "content"], "additionalProperties": false,
                    "properties": {
                        "name": { "type": "string", "maxLength": 128 },
                        "kind": { "enum": ["threat", "trusted"] },
                        "category": { "type": "string", "description": "`saker findings categories`" },
                        "format": { "enum": ["auto", "plain", "csv", "tor-exit", "stix"] },
                        "content": { "type": "string" }
                    }
                },
                "NewAccount": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" } } },
                "NewToken": {
                    "type": "object", "required": ["kind", "name"],
                    "properties": { "kind": { "enum": ["api", "agent"] }, "name": { "type": "string" } }
                },
                "Settings": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "excludedEcsClusters": { "type": "array", "items": { "type": "string" } },
                        "updateExportInterval": { "enum": ["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"] }
                    }
                }
            }
        }
    })
}
