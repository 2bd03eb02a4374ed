#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Opening and migrating, accounts, tokens and authentication — on SQLite
//! and PostgreSQL.

mod common;

use common::{finding, none, stores};
use saker_store::*;
use serde_json::json;

#[tokio::test]
async fn migrations_run_twice_and_keep_the_data() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let admin = s.admin_account().await.unwrap();
        s.ingest_findings(
            &admin.id,
            "r",
            &[finding("f1", "Execution:Runtime/ReverseShell", 8.0, 2, "2026-11-28T10:00:00Z")],
            &none,
        )
        .await
        .unwrap();
        s.put_setting("k", &json!(1)).await.unwrap();
        // Opening again re-runs the (already applied) migrations: a no-op.
        let again = t.reopen().await;
        let third = t.reopen().await;
        assert_eq!(again.admin_account().await.unwrap(), admin, "{db}");
        assert_eq!(third.finding(&Scope::All, "f1").await.unwrap().unwrap()["service"]["count"], 2, "{db}");
        assert_eq!(third.setting("k").await.unwrap(), Some(json!(1)), "{db}");
        assert_eq!(third.lists_version().await.unwrap(), 0, "{db}");
        again.close().await;
        third.close().await;
        t.finish().await;
    }
}

#[tokio::test]
async fn unusable_urls_are_input_errors() {
    for url in ["mysql://x/y", "sqlite::memory:", "sqlite:", ""] {
        assert!(matches!(Store::open(url).await, Err(StoreError::InvalidInput(_))), "{url}");
    }
}

#[tokio::test]
async fn one_administrator_and_member_accounts() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        // Concurrent first calls still make exactly one administrator.
        let firsts = futures_join(s, 6).await;
        let admin = firsts[0].clone();
        assert!(firsts.iter().all(|a| *a == admin), "{db}: {firsts:?}");
        assert!(admin.is_admin && admin.name == "admin", "{db}");
        assert!(admin.id.len() == 12 && admin.id.bytes().all(|b| b.is_ascii_digit()), "{db}: {}", admin.id);

        let a = s.create_account("team-a").await.unwrap();
        assert!(!a.is_admin && a.id != admin.id && a.id.len() == 12, "{db}");
        assert!(matches!(s.create_account("team-a").await, Err(StoreError::Conflict(_))), "{db}: names are unique");
        assert!(matches!(s.create_account("admin").await, Err(StoreError::Conflict(_))), "{db}: admin is taken");
        assert!(matches!(s.create_account(" ").await, Err(StoreError::InvalidInput(_))), "{db}");
        assert!(matches!(s.create_account("a\0b").await, Err(StoreError::InvalidInput(_))), "{db}");
        let all = s.accounts().await.unwrap();
        assert_eq!(all.iter().filter(|x| x.is_admin).count(), 1, "{db}");
        assert_eq!(all.len(), 2, "{db}");
        assert_eq!(s.account(&a.id).await.unwrap(), Some(a), "{db}");
        assert_eq!(s.account("000000000000").await.unwrap(), None, "{db}");
        t.finish().await;
    }
}

async fn futures_join(s: &Store, n: usize) -> Vec<Account> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.admin_account().await.unwrap() })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn tokens_issue_authenticate_and_revoke() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let admin = s.admin_account().await.unwrap();
        let member = s.create_account("team-a").await.unwrap();
        let (info, token) = s.issue_token(&member.id, TokenKind::Api, "cli").await.unwrap();
        // sk_<kind>_<16 hex>_<32 alphanumerics>
        let parts: Vec<&str> = token.splitn(4, '_').collect();
        assert_eq!(parts[..2], ["sk", "api"], "{db}");
        assert!(parts[2] == info.id && info.id.len() == 16 && info.id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(parts[3].len() == 32 && parts[3].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!((info.kind, info.revoked, info.last_used_at), (TokenKind::Api, false, None));

        let p = s.authenticate(&token).await.unwrap().expect("a fresh token works");
        assert_eq!(
            p,
            Principal {
                account_id: member.id.clone(),
                is_admin: false,
                token_id: info.id.clone(),
                kind: TokenKind::Api
            },
            "{db}"
        );
        assert_eq!(p.scope(), Scope::Account(member.id.clone()));
        assert_eq!(s.authenticate(&token).await.unwrap(), Some(p), "{db}: cached");
        let listed = s.tokens(&Scope::Account(member.id.clone())).await.unwrap();
        assert!(listed[0].last_used_at.is_some(), "{db}: last use recorded");

        // Wrong secret, unknown id, wrong kind, malformed: nobody.
        let last = token.chars().last().unwrap();
        let wrong = format!("{}{}", &token[..token.len() - 1], if last == 'A' { 'B' } else { 'A' });
        assert_eq!(s.authenticate(&wrong).await.unwrap(), None, "{db}: wrong secret");
        let unknown = token.replace(&info.id, "0123456789abcdef");
        assert_eq!(s.authenticate(&unknown).await.unwrap(), None, "{db}: unknown id");
        let as_agent = token.replacen("sk_api_", "sk_agent_", 1);
        assert_eq!(s.authenticate(&as_agent).await.unwrap(), None, "{db}: the kind is part of the token");
        for bad in ["", "sk_api_nope", "Bearer x", &format!("{token}x")] {
            assert_eq!(s.authenticate(bad).await.unwrap(), None, "{db}: {bad:?}");
        }

        // Agent tokens of the administrator.
        let (agent_info, agent_token) = s.issue_token(&admin.id, TokenKind::Agent, "host-1").await.unwrap();
        let ap = s.authenticate(&agent_token).await.unwrap().unwrap();
        assert_eq!((ap.kind, ap.is_admin, ap.scope()), (TokenKind::Agent, true, Scope::All), "{db}");

        // Scoped listing and revocation.
        let mine = s.tokens(&Scope::Account(member.id.clone())).await.unwrap();
        assert_eq!(mine.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [info.id.as_str()], "{db}");
        assert_eq!(s.tokens(&Scope::All).await.unwrap().len(), 2, "{db}");
        assert!(!s.revoke_token(&Scope::Account(member.id.clone()), &agent_info.id).await.unwrap(), "{db}");
        assert!(s.authenticate(&agent_token).await.unwrap().is_some(), "{db}: untouched by a refused revoke");
        assert!(s.revoke_token(&Scope::Account(member.id.clone()), &info.id).await.unwrap(), "{db}");
        assert_eq!(s.authenticate(&token).await.unwrap(), None, "{db}: revoked works at once, cache or not");
        assert!(s.tokens(&Scope::All).await.unwrap().iter().any(|t| t.id == info.id && t.revoked), "{db}");
        // Nothing lists or stores the secret.
        assert!(!format!("{:?}", s.tokens(&Scope::All).await.unwrap()).contains(parts[3]), "{db}");

        assert!(matches!(s.issue_token("000000000000", TokenKind::Api, "x").await, Err(StoreError::NotFound(_))));
        assert!(matches!(s.issue_token(&member.id, TokenKind::Api, "").await, Err(StoreError::InvalidInput(_))));
        t.finish().await;
    }
}

#[tokio::test]
async fn revoking_through_another_handle_clears_the_shared_cache() {
    for t in stores().await {
        let (db, s) = (t.db, &t.store);
        let admin = s.admin_account().await.unwrap();
        let (info, token) = s.issue_token(&admin.id, TokenKind::Api, "console").await.unwrap();
        assert!(s.authenticate(&token).await.unwrap().is_some());
        let clone = s.clone();
        assert!(clone.revoke_token(&Scope::All, &info.id).await.unwrap());
        assert_eq!(s.authenticate(&token).await.unwrap(), None, "{db}");
        t.finish().await;
    }
}
