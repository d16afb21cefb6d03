//! A real browser for the tests of what people open in one: headless Chromium, driven over the
//! DevTools protocol. A page opened here records every console error, uncaught exception and
//! browser log error, so a test can require that there were none.
//!
//! Chromium is found at `$CHROMIUM`, else `/usr/bin/chromium` (Debian's `chromium` package,
//! which `.ci/run` installs).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Emulation::SetDeviceMetricsOverride;
use headless_chrome::protocol::cdp::Log::LogEntryLevel;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::protocol::cdp::Runtime::ConsoleAPICalledEventTypeOption;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value;

/// How long a page may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// What a laptop's screen shows of a page: the first screen a reader sees.
pub const VIEWPORT: (u32, u32) = (1280, 800);

/// One headless Chromium.
pub struct Chromium {
    browser: Browser,
}

impl Chromium {
    /// Starts Chromium with a 1280x900 window.
    ///
    /// # Panics
    /// If Chromium is missing or does not start: the message says how to install it.
    pub fn start() -> Self {
        let path = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
        assert!(
            path.exists(),
            "{} is missing: install Chromium (apt-get install chromium) or set CHROMIUM to its path",
            path.display()
        );
        let options = LaunchOptions::default_builder()
            .path(Some(path.clone()))
            // Tests run as root in CI, where Chromium's sandbox cannot start.
            .sandbox(false)
            .window_size(Some(VIEWPORT))
            .idle_browser_timeout(Duration::from_secs(300))
            .build()
            .expect("Chromium's launch options");
        let browser = Browser::new(options).unwrap_or_else(|e| panic!("starting {}: {e:#}", path.display()));
        Self { browser }
    }

    /// Opens `url` in a new tab and waits for it to load; the tab records its console's errors
    /// from the start.
    pub fn open(&self, url: &str) -> Page {
        let tab = self.browser.new_tab().expect("a new tab");
        tab.set_default_timeout(PATIENCE);
        // The page's own viewport, as a 1280 x 800 screen shows it (the window's size would
        // include the browser's frame).
        tab.call_method(SetDeviceMetricsOverride {
            width: VIEWPORT.0,
            height: VIEWPORT.1,
            device_scale_factor: 1.0,
            mobile: false,
            scale: None,
            screen_width: None,
            screen_height: None,
            position_x: None,
            position_y: None,
            dont_set_visible_size: None,
            screen_orientation: None,
            viewport: None,
            display_feature: None,
            device_posture: None,
        })
        .expect("the viewport's size");
        let problems = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&problems);
        tab.add_event_listener(Arc::new(move |event: &Event| {
            let problem = match event {
                Event::RuntimeConsoleAPICalled(call)
                    if matches!(
                        call.params.Type,
                        ConsoleAPICalledEventTypeOption::Error | ConsoleAPICalledEventTypeOption::Assert
                    ) =>
                {
                    let args: Vec<String> = (call.params.args.iter())
                        .map(|arg| {
                            arg.description
                                .clone()
                                .or_else(|| arg.value.as_ref().map(Value::to_string))
                        })
                        .map(Option::unwrap_or_default)
                        .collect();
                    Some(format!("console.error: {}", args.join(" ")))
                }
                Event::RuntimeExceptionThrown(thrown) => {
                    let details = &thrown.params.exception_details;
                    let description = details.exception.as_ref().and_then(|e| e.description.clone());
                    Some(format!(
                        "uncaught: {} {}",
                        details.text,
                        description.unwrap_or_default()
                    ))
                }
                Event::LogEntryAdded(entry) if entry.params.entry.level == LogEntryLevel::Error => {
                    let entry = &entry.params.entry;
                    Some(format!(
                        "browser log: {} ({})",
                        entry.text,
                        entry.url.as_deref().unwrap_or("-")
                    ))
                }
                _ => None,
            };
            if let Some(problem) = problem {
                sink.lock().expect("the problems' lock").push(problem);
            }
        }))
        .expect("listening to the tab");
        tab.enable_runtime().expect("the Runtime domain");
        tab.enable_log().expect("the Log domain");
        tab.navigate_to(url)
            .and_then(|tab| tab.wait_until_navigated())
            .unwrap_or_else(|e| panic!("opening {url}: {e:#}"));
        Page { tab, problems }
    }
}

/// A loaded page.
pub struct Page {
    tab: Arc<Tab>,
    problems: Arc<Mutex<Vec<String>>>,
}

impl Page {
    /// Evaluates the JavaScript `expression` in the page; its value as JSON.
    ///
    /// # Panics
    /// If it throws or its value cannot be returned as JSON.
    pub fn eval(&self, expression: &str) -> Value {
        // JSON.stringify brings back objects and arrays whole, not as previews.
        let wrapped = format!("JSON.stringify(({expression}))");
        let result = (self.tab.evaluate(&wrapped, true)).unwrap_or_else(|e| panic!("evaluating {expression}: {e:#}"));
        let text = result.value.and_then(|v| v.as_str().map(str::to_owned));
        text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null)
    }

    /// Waits until the JavaScript `condition` is true; its last value if it never is.
    pub fn wait_for(&self, condition: &str) -> bool {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.eval(condition) == Value::Bool(true) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `text` into the element `selector` as a person would, after emptying it.
    pub fn type_into(&self, selector: &str, text: &str) {
        self.eval(&format!("document.querySelector({selector:?}).value = ''"));
        let element = (self.tab.find_element(selector)).unwrap_or_else(|e| panic!("finding {selector}: {e:#}"));
        element
            .type_into(text)
            .unwrap_or_else(|e| panic!("typing into {selector}: {e:#}"));
    }

    /// Clicks the element `selector` with the mouse.
    pub fn click(&self, selector: &str) {
        let element = (self.tab.find_element(selector)).unwrap_or_else(|e| panic!("finding {selector}: {e:#}"));
        element.click().unwrap_or_else(|e| panic!("clicking {selector}: {e:#}"));
    }

    /// Console errors, uncaught exceptions and browser log errors so far.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().expect("the problems' lock").clone()
    }

    /// Saves a PNG of what the window shows as `dir/name.png`; returns its path.
    pub fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        let png = (self
            .tab
            .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true))
        .expect("a screenshot");
        std::fs::create_dir_all(dir).expect("the screenshots' folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing the screenshot");
        path
    }
}

/// Where the browser tests leave their screenshots: `target/<profile>/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    lab_tests::binary_dir().join("screenshots")
}
