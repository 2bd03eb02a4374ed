//! A real headless Chromium driven over the WebDriver protocol, for the
//! console tests.
//!
//! Each [`Browser`] starts its own ChromeDriver on a free loopback port, in a
//! process group of its own, and kills that group when dropped (ChromeDriver
//! and the Chromium it started), also when a test panics. Chromium runs
//! headless with a temporary profile and a dead proxy, so nothing it does can
//! leave loopback. Waits poll with a bound; nothing asserts timings.
//!
//! When Chromium or ChromeDriver cannot start, [`Browser::start_or_skip`]
//! skips the test loudly — or fails it when `SAKER_REQUIRE_PRIVILEGED=1`
//! (CI), so a machine without a browser cannot pass the suite silently.

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a wait polls before the test fails.
const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// At most two browsers at a time: the machine has two cores, and tests of
/// one binary run in parallel.
static SLOTS: Semaphore = Semaphore::const_new(2);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _slot: SemaphorePermit<'static>,
}

impl Browser {
    /// A browser, or `None` (after a loud message) when none can start here.
    pub async fn start_or_skip(test: &str) -> Option<Browser> {
        match Browser::start().await {
            Ok(b) => Some(b),
            Err(why) => {
                if std::env::var("SAKER_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
                    panic!("{test}: Chromium/ChromeDriver did not start ({why}) and SAKER_REQUIRE_PRIVILEGED=1");
                }
                eprintln!(
                    "\n==================== SKIPPED {test} ====================\n\
                     Chromium/ChromeDriver did not start: {why}\n\
                     Install them with `apt-get install -y chromium chromium-driver`.\n\
                     (Set SAKER_REQUIRE_PRIVILEGED=1 to make this a failure.)\n\
                     ========================================================\n"
                );
                None
            }
        }
    }

    async fn start() -> Result<Browser, String> {
        for exe in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(exe).exists() {
                return Err(format!("{exe} is missing"));
            }
        }
        let slot = SLOTS.acquire().await.map_err(|e| e.to_string())?;
        let profile = tempfile::tempdir().map_err(|e| format!("profile directory: {e}"))?;
        let port = free_port()?;
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: Drop kills the driver and the browser together.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting {CHROMEDRIVER}: {e}"))?;
        if let Err(e) = wait_for_port(port, &mut driver).await {
            kill_group(&mut driver);
            return Err(e);
        }
        match connect(port, profile.path()).await {
            Ok(client) => Ok(Browser { client, driver, _profile: profile, _slot: slot }),
            Err(e) => {
                kill_group(&mut driver);
                Err(e)
            }
        }
    }

    /// End the WebDriver session (Drop then kills what is left).
    pub async fn finish(self) {
        let _ = self.client.clone().close().await;
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Run `script` (a function body: `return …`) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    /// Run `script` with arguments (`arguments[0]`, …).
    pub async fn js_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    /// Poll `script` until it returns something truthy; return that.
    pub async fn wait_js(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = match self.client.execute(script, vec![]).await {
                Ok(v) if truthy(&v) => return v,
                Ok(v) => v,
                Err(e) => json!(format!("error: {e}")),
            };
            if Instant::now() > deadline {
                let page = self.page_text().await;
                panic!("timed out waiting for {what}\nlast value: {last}\npage text:\n{page}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Wait until `css` matches an element.
    pub async fn wait_for(&self, css: &str) {
        let script = format!("return document.querySelector({}) !== null", json!(css));
        self.wait_js(&format!("an element matching {css}"), &script).await;
    }

    /// The text of the first element matching `css`, once there is one.
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await;
        let v = self.js_with("return document.querySelector(arguments[0]).textContent", vec![json!(css)]).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Click the first element matching `css` (a real WebDriver click),
    /// retrying while it is not there or not clickable yet.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let err = match self.client.find(Locator::Css(css)).await {
                Ok(e) => match e.click().await {
                    Ok(()) => return,
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                panic!("could not click {css}: {err}\npage text:\n{}", self.page_text().await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Replace the text of the input matching `css` (real key presses).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css).await;
        let e = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        e.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Choose an option of the `<select>` matching `css` by clicking it.
    pub async fn select(&self, css: &str, value: &str) {
        self.wait_for(css).await;
        let e = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        e.select_by_value(value).await.unwrap_or_else(|e| panic!("selecting {value} in {css}: {e}"));
    }

    /// The page's visible text (for failure messages).
    pub async fn page_text(&self) -> String {
        match self.client.execute("return document.body ? document.body.innerText : ''", vec![]).await {
            Ok(Value::String(s)) => s.chars().take(3000).collect(),
            Ok(v) => v.to_string(),
            Err(e) => format!("(page text unavailable: {e})"),
        }
    }

    /// Save a PNG of the page to `$SAKER_CONSOLE_SCREENSHOTS/<name>.png` when
    /// that variable is set (for looking at the console, not for asserting).
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("SAKER_CONSOLE_SCREENSHOTS") else { return };
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(Path::new(&dir).join(format!("{name}.png")), png);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("finding a free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

async fn wait_for_port(port: u16, driver: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!("{CHROMEDRIVER} exited with {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("{CHROMEDRIVER} did not listen on 127.0.0.1:{port}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connect(port: u16, profile: &Path) -> Result<Client, String> {
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        "--window-size=1280,1000".to_owned(),
        // Loopback only: every other address goes to a dead proxy (Chromium
        // never proxies loopback), and the background services stay off.
        "--proxy-server=127.0.0.1:9".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-default-apps".to_owned(),
        "--disable-extensions".to_owned(),
        "--disable-client-side-phishing-detection".to_owned(),
        "--disable-domain-reliability".to_owned(),
        "--disable-breakpad".to_owned(),
        "--disable-crash-reporter".to_owned(),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    let Value::Object(caps) = caps else { return Err("capabilities".into()) };
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .map_err(|e| format!("starting a Chromium session: {e}"))
}

/// Kill ChromeDriver's process group (the driver and the browser it started),
/// then reap the driver.
fn kill_group(driver: &mut Child) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{}", driver.id()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}
