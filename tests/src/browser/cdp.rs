//! One DevTools protocol connection: JSON commands over a websocket, answered by id, with the
//! events Chromium sends in between kept for later (console output apart, as text).

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use super::BrowserError;

/// How long one command may wait for its answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for console messages still on their way.
const SETTLE: Duration = Duration::from_millis(50);

/// An event Chromium sent without being asked (`Page.loadEventFired`, ...).
#[derive(Debug)]
struct Event {
    method: String,
    params: Value,
}

#[derive(Debug)]
pub(super) struct Connection {
    socket: WebSocket<TcpStream>,
    last_id: u64,
    events: VecDeque<Event>,
    console: Vec<String>,
}

impl Connection {
    /// Connects to `ws://127.0.0.1:<port><path>`.
    pub(super) fn open(port: u16, path: &str) -> Result<Connection, BrowserError> {
        let url = format!("ws://127.0.0.1:{port}{path}");
        let failed = |reason: String| BrowserError::Connect {
            url: url.clone(),
            reason,
        };
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| failed(e.to_string()))?;
        // The handshake blocks; afterwards each read sets its own timeout.
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .map_err(|e| failed(e.to_string()))?;
        let (socket, _) =
            tungstenite::client::client(url.as_str(), stream).map_err(|e| failed(e.to_string()))?;
        Ok(Connection {
            socket,
            last_id: 0,
            events: VecDeque::new(),
            console: Vec::new(),
        })
    }

    /// Sends `method` and waits for its answer, keeping the events that come first.
    pub(super) fn call(&mut self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.last_id += 1;
        let id = self.last_id;
        let request = json!({"id": id, "method": method, "params": params});
        self.socket
            .send(Message::text(request.to_string()))
            .map_err(|e| BrowserError::Socket(Box::new(e)))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let Some(mut message) = self.receive(deadline)? else {
                return Err(BrowserError::NoAnswer {
                    method: method.to_owned(),
                    timeout: CALL_TIMEOUT,
                });
            };
            if message["id"].as_u64() != Some(id) {
                self.keep_event(message);
                continue;
            }
            if let Some(error) = message.get("error") {
                return Err(BrowserError::Cdp {
                    method: method.to_owned(),
                    code: error["code"].as_i64().unwrap_or_default(),
                    message: error["message"].as_str().unwrap_or_default().to_owned(),
                });
            }
            return Ok(message["result"].take());
        }
    }

    /// Drops the events received so far (console output stays).
    pub(super) fn forget_events(&mut self) {
        self.events.clear();
    }

    /// Waits for the event `method` and returns its parameters; events before it are dropped.
    pub(super) fn wait_event(
        &mut self,
        method: &str,
        timeout: Duration,
    ) -> Result<Value, BrowserError> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(event) = self.events.pop_front() {
                if event.method == method {
                    return Ok(event.params);
                }
            }
            match self.receive(deadline)? {
                Some(message) => self.keep_event(message),
                None => {
                    return Err(BrowserError::Timeout {
                        what: format!("the event {method}"),
                        timeout,
                    });
                }
            }
        }
    }

    /// Console messages, uncaught exceptions and browser log entries, one a line: those
    /// seen so far and those that arrive within [`SETTLE`]. For failure messages, so a
    /// broken socket is one more line rather than an error.
    pub(super) fn console(&mut self) -> Vec<String> {
        loop {
            match self.receive(Instant::now() + SETTLE) {
                Ok(Some(message)) => self.keep_event(message),
                Ok(None) => return self.console.clone(),
                Err(e) => return [self.console.clone(), vec![format!("({e})")]].concat(),
            }
        }
    }

    /// The next message, or `None` once `deadline` has passed.
    fn receive(&mut self, deadline: Instant) -> Result<Option<Value>, BrowserError> {
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(None);
            }
            let socket_error = |e: std::io::Error| BrowserError::Socket(Box::new(e.into()));
            self.socket
                .get_ref()
                .set_read_timeout(Some(remaining))
                .map_err(socket_error)?;
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(&text).map(Some).map_err(|e| {
                        BrowserError::Unexpected {
                            method: "(a message)".to_owned(),
                            answer: format!("{e}: {text}"),
                        }
                    });
                }
                // Pings are answered by tungstenite; CDP sends nothing else but text.
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(BrowserError::Socket(Box::new(e))),
            }
        }
    }

    fn keep_event(&mut self, mut message: Value) {
        let method = message["method"].as_str().unwrap_or_default().to_owned();
        let params = message["params"].take();
        match console_line(&method, &params) {
            Some(line) => self.console.push(line),
            None => self.events.push_back(Event { method, params }),
        }
    }
}

/// The text of a console call, an uncaught exception or a browser log entry (a refused
/// request, a Content-Security-Policy violation); `None` for other events.
fn console_line(method: &str, params: &Value) -> Option<String> {
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    match method {
        "Runtime.consoleAPICalled" => {
            let args = params["args"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let words: Vec<String> = args
                .iter()
                .map(|arg| text(arg.get("value").unwrap_or(&arg["description"])))
                .collect();
            Some(format!(
                "console.{}: {}",
                text(&params["type"]),
                words.join(" ")
            ))
        }
        "Runtime.exceptionThrown" => Some(format!(
            "uncaught: {}",
            exception_text(&params["exceptionDetails"])
        )),
        "Log.entryAdded" => {
            let entry = &params["entry"];
            Some(format!(
                "{} ({}): {} {}",
                text(&entry["level"]),
                text(&entry["source"]),
                text(&entry["text"]),
                text(&entry["url"]),
            ))
        }
        _ => None,
    }
}

/// What a script threw, from CDP's `ExceptionDetails`: the error's description (name,
/// message and stack), else the thrown value, else CDP's summary ("Uncaught").
pub(super) fn exception_text(details: &Value) -> String {
    let exception = &details["exception"];
    if let Some(description) = exception["description"].as_str() {
        return description.to_owned();
    }
    match &exception["value"] {
        Value::Null => details["text"]
            .as_str()
            .unwrap_or("an exception")
            .to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
