#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The REST API over HTTP against a real server, on SQLite and on
//! PostgreSQL: authentication, tenancy (404, not 403), criteria errors,
//! archive, suppression rules, lists, coverage, settings, the OpenAPI
//! document, and a JSON 4xx for every bad request.

use reqwest::StatusCode;
use saker_store::TokenKind;
use serde_json::{Value, json};

#[path = "support/api_server.rs"]
mod api_server;
#[path = "../../store/tests/common/mod.rs"]
mod store_common;

use api_server::servers;

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no JSON error>")
}

#[tokio::test]
async fn every_bad_request_is_a_json_4xx() {
    for (db, api) in servers().await {
        let admin = api.admin().await;
        let (s, v) = api.call("GET", "/api/v1/whoami", None, None).await;
        assert_eq!((s, error_code(&v)), (StatusCode::UNAUTHORIZED, "Unauthorized"), "{db}");
        let (s, _) = api
            .call("GET", "/api/v1/whoami", Some("sk_api_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let agent = api.token(&api.running.app.store.admin_account().await.unwrap().id, TokenKind::Agent).await;
        let (s, v) = api.call("GET", "/api/v1/whoami", Some(&agent), None).await;
        assert_eq!((s, error_code(&v)), (StatusCode::FORBIDDEN, "Forbidden"), "{db}: agent tokens only ingest");
        // Malformed JSON, wrong shapes, unknown fields, bad criteria.
        let raw = api
            .http
            .post(format!("{}/api/v1/findings/search", api.running.http_url))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
        assert!(raw.json::<Value>().await.unwrap()["error"]["message"].is_string());
        for body in [
            json!({"findingCriteria": {"criterion": {"nope": {"eq": ["x"]}}}}),
            json!({"findingCriteria": {"criterion": {"severity": {"gte": "high"}}}}),
            json!({"maxResults": 0}),
            json!({"sortCriteria": {"attributeName": "title"}}),
            json!({"nextToken": "forged"}),
        ] {
            let (s, v) = api.call("POST", "/api/v1/findings/search", Some(&admin), Some(body.clone())).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{db}: {body} → {v}");
            assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        let (s, v) = api.call("POST", "/api/v1/findings/search", Some(&admin), Some(json!({"surprise": 1}))).await;
        assert!(s.is_client_error(), "{db}: unknown request fields are refused: {v}");
        let (s, v) = api.call("GET", "/api/v1/nope", Some(&admin), None).await;
        assert_eq!((s, error_code(&v)), (StatusCode::NOT_FOUND, "NotFound"));
        let (s, _) = api.call("GET", "/api/v1/findings/statistics?bucket=fortnight", Some(&admin), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = api
            .call(
                "PUT",
                "/api/v1/filters/x",
                Some(&admin),
                Some(json!({"action": "ARCHIVE", "rank": 1, "findingCriteria": {}})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{db}: short name and empty criteria");
        api.running.shutdown().await;
    }
}

#[tokio::test]
async fn tenancy_archive_and_suppression() {
    for (db, api) in servers().await {
        let store = &api.running.app.store;
        let admin = api.admin().await;
        let a = store.create_account("team-a").await.unwrap().id;
        let b = store.create_account("team-b").await.unwrap().id;
        let ta = api.token(&a, TokenKind::Api).await;
        let none = |_: &Value| None;
        store
            .ingest_findings(
                &a,
                "r",
                &[store_common::finding("fa", "Execution:Runtime/ReverseShell", 8.0, 1, "2026-11-28T10:00:00Z")],
                &none,
            )
            .await
            .unwrap();
        store
            .ingest_findings(
                &b,
                "r",
                &[store_common::finding("fb", "Discovery:Runtime/SuspiciousCommand", 2.0, 1, "2026-11-28T10:00:00Z")],
                &none,
            )
            .await
            .unwrap();
        // A member: its own finding; the other's is 404, and archiving it does nothing.
        let (s, v) = api.call("GET", "/api/v1/findings/fa", Some(&ta), None).await;
        assert_eq!((s, v["accountId"].as_str()), (StatusCode::OK, Some(a.as_str())), "{db}");
        let (s, _) = api.call("GET", "/api/v1/findings/fb", Some(&ta), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{db}: not 403");
        let (_, v) = api.call("POST", "/api/v1/findings/archive", Some(&ta), Some(json!({"findingIds": ["fb"]}))).await;
        assert_eq!(v["updated"], 0, "{db}");
        let (_, v) = api.call("POST", "/api/v1/findings/search", Some(&ta), Some(json!({}))).await;
        assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{db}");
        let (s, _) = api.call("POST", "/api/v1/accounts", Some(&ta), Some(json!({"name": "x"}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{db}: members do not create accounts");
        let (s, _) = api
            .call("POST", &format!("/api/v1/accounts/{b}/tokens"), Some(&ta), Some(json!({"kind": "api", "name": "x"})))
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{db}");
        // The administrator sees both; archives and unarchives.
        let (_, v) = api
            .call(
                "POST",
                "/api/v1/findings/search",
                Some(&admin),
                Some(json!({"sortCriteria": {"attributeName": "severity", "orderBy": "ASC"}})),
            )
            .await;
        let ids: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["fb", "fa"], "{db}");
        let (_, v) = api.call("POST", "/api/v1/findings/archive", Some(&ta), Some(json!({"findingIds": ["fa"]}))).await;
        assert_eq!(v["updated"], 1);
        let (_, v) = api.call("GET", "/api/v1/findings/fa", Some(&ta), None).await;
        assert_eq!(v["service"]["archived"], true, "{db}");
        // An ARCHIVE filter archives what already matches and what arrives.
        let rule = json!({"description": "quiet", "action": "ARCHIVE", "rank": 1,
            "findingCriteria": {"criterion": {"type": {"matches": ["Discovery:*"]}}}});
        let (s, v) = api.call("PUT", "/api/v1/filters/quiet-discovery", Some(&admin), Some(rule)).await;
        assert_eq!((s, v["archived"].as_u64()), (StatusCode::OK, Some(1)), "{db}: {v}");
        let (_, v) = api.call("GET", "/api/v1/findings/fb", Some(&admin), None).await;
        assert_eq!(v["service"]["archived"], true);
        // Ingest consults the rule (the server's cached copy, reloaded on change).
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let app = &api.running.app;
        let admin_id = store.admin_account().await.unwrap().id;
        let f = serde_json::to_value(store_common::finding(
            "fc",
            "Discovery:Runtime/SuspiciousCommand",
            2.0,
            1,
            "2026-11-28T10:00:00Z",
        ))
        .unwrap();
        assert_eq!(
            app.suppressed_by(&a, &admin_id, &f).as_deref(),
            Some("quiet-discovery"),
            "{db}: the admin's rule applies to members"
        );
        let (_, v) = api.call("GET", "/api/v1/filters", Some(&ta), None).await;
        assert_eq!(v["filters"][0]["name"], "quiet-discovery");
        let (s, _) = api.call("DELETE", "/api/v1/filters/quiet-discovery", Some(&ta), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{db}: a member cannot delete the admin's rule");
        api.running.shutdown().await;
    }
}

#[tokio::test]
async fn lists_coverage_settings_and_documents() {
    for (db, api) in servers().await {
        let admin = api.admin().await;
        let (s, v) = api.call("POST", "/api/v1/lists", Some(&admin), Some(json!({"name": "feodo", "kind": "threat", "category": "c2", "content": "192.0.2.1\n198.51.100.0/24\n"}))).await;
        assert_eq!(s, StatusCode::CREATED, "{db}: {v}");
        assert_eq!(v["entries"]["ips"], 2);
        let id = v["id"].as_str().unwrap().to_owned();
        let before = api.running.app.lists_version();
        let v0 = *before.borrow();
        let (s, _) = api.call("POST", &format!("/api/v1/lists/{id}/deactivate"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(*api.running.app.lists_version().borrow() > v0, "{db}: agents are told");
        let (s, v) = api
            .call(
                "POST",
                "/api/v1/lists",
                Some(&admin),
                Some(json!({"name": "junk", "kind": "threat", "category": "c2", "content": "not an indicator\n"})),
            )
            .await;
        assert_eq!((s, error_code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "InvalidList"), "{db}");
        let (s, _) = api
            .call(
                "POST",
                "/api/v1/lists",
                Some(&admin),
                Some(json!({"name": "x", "kind": "threat", "category": "evil", "content": "192.0.2.1"})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (_, v) = api.call("GET", "/api/v1/coverage", Some(&admin), None).await;
        assert!(v["resources"].is_array() && v["clusters"].is_array() && v["events"].is_array(), "{db}");
        let (s, v) = api
            .call(
                "PUT",
                "/api/v1/settings",
                Some(&admin),
                Some(json!({"excludedEcsClusters": ["staging"], "updateExportInterval": "ONE_HOUR"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (_, v) = api.call("GET", "/api/v1/settings", Some(&admin), None).await;
        assert_eq!(v["updateExportInterval"], "ONE_HOUR");
        let (s, _) =
            api.call("PUT", "/api/v1/settings", Some(&admin), Some(json!({"updateExportInterval": "WEEKLY"}))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, v) = api.call("GET", "/api/v1/openapi.json", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        for path in [
            "/api/v1/findings/search",
            "/api/v1/findings/{id}",
            "/api/v1/filters/{name}",
            "/api/v1/lists",
            "/api/v1/coverage",
            "/api/v1/accounts/{id}/tokens",
            "/api/v1/settings",
        ] {
            assert!(v["paths"][path].is_object(), "{db}: {path} documented");
        }
        let health = reqwest::get(format!("{}/healthz", api.running.http_url)).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let metrics = reqwest::get(format!("{}/metrics", api.running.http_url)).await.unwrap();
        assert_eq!(metrics.status(), StatusCode::OK);
        let page = reqwest::get(format!("{}/", api.running.http_url)).await.unwrap();
        let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        api.running.shutdown().await;
    }
}
