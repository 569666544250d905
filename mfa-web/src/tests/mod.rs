//! The server as a browser and the daemon see it: requests through the router (and, for the
//! connection limits, over real sockets) against a stand-in of the daemon's web socket that
//! answers fixed responses and records what reached it.

mod api;
mod connections;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use mfa_proto::web::{ApprovalView, WebFailure, WebRequest, WebResponse, web_socket};
use mfa_proto::{HEADER_LEN, decode_body, decode_header, encode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tower::ServiceExt;

use crate::app::{AppState, router};
use crate::daemon::Daemon;
use crate::rate_limit::{RateLimiter, RatePolicy};

/// A link the stand-in knows.
const LINK: &str = "AAAAAAAAAAAAAAAAAAAAAA";
/// A link of the right shape the stand-in does not know.
const GONE: &str = "BBBBBBBBBBBBBBBBBBBBBB";
/// The number shown at the stand-in's sign-in prompt.
const NUMBER: u8 = 47;

/// A stand-in of the daemon's web socket.
struct StandIn {
    dir: tempfile::TempDir,
    seen: Arc<Mutex<Vec<WebRequest>>>,
}

impl StandIn {
    fn start() -> StandIn {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(web_socket(&dir.path().join("mfa.sock"))).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let record = Arc::clone(&record);
                tokio::spawn(async move {
                    let mut header = [0u8; HEADER_LEN];
                    if stream.read_exact(&mut header).await.is_err() {
                        return;
                    }
                    let mut body = vec![0u8; decode_header(header).unwrap()];
                    stream.read_exact(&mut body).await.unwrap();
                    let request: WebRequest = decode_body(&body).unwrap();
                    let answer = answer(&request);
                    record.lock().unwrap().push(request);
                    stream.write_all(&encode(&answer).unwrap()).await.unwrap();
                });
            }
        });
        StandIn { dir, seen }
    }

    /// The daemon's public socket path (the web socket is beside it).
    fn public(&self) -> PathBuf {
        self.dir.path().join("mfa.sock")
    }

    /// How many requests reached it.
    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn last(&self) -> WebRequest {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }

    /// The router, talking to this stand-in as a daemon running as one of `trusted`.
    fn router_trusting(
        &self,
        trusted: Vec<u32>,
        policy: RatePolicy,
        forwarded_for: bool,
    ) -> Router {
        router(AppState {
            daemon: Arc::new(Daemon::new(&self.public(), trusted, Duration::from_secs(5))),
            limiter: Arc::new(RateLimiter::new(policy)),
            forwarded_for,
            origin: "https://mfa.example.com".into(),
            hsts: true,
        })
    }

    /// The router as `mfa-web` runs it (the stand-in runs as this test's uid).
    fn router(&self) -> Router {
        self.router_trusting(
            vec![nix::unistd::getuid().as_raw()],
            RatePolicy::default(),
            false,
        )
    }
}

/// The stand-in's fixed answers.
fn answer(request: &WebRequest) -> WebResponse {
    let known = |link: &str| link == LINK;
    let gone = || WebResponse::Failed {
        kind: WebFailure::NotFound,
        message: "no such link".into(),
    };
    match request {
        WebRequest::EnrollmentOpen { token, .. } if known(token) => WebResponse::Enrollment {
            user: "alice".into(),
            host: "host1".into(),
            label: "phone".into(),
            options: json!({"publicKey": {"challenge": "AAAA", "user": {"id": "AQ", "name": "alice"}}}),
        },
        WebRequest::EnrollmentFinish { token, .. } if known(token) => WebResponse::Enrolled {
            label: "phone".into(),
        },
        WebRequest::ApprovalOpen { id, .. } if known(id) => WebResponse::Approval(ApprovalView {
            user: "alice".into(),
            host: "host1".into(),
            service: "sshd".into(),
            source: "192.0.2.5".into(),
            requested_at: 1_800_000_000,
            expires_at: 1_800_000_060,
            choices: [12, NUMBER, 83],
        }),
        WebRequest::ApprovalNumber { id, number, .. } if known(id) => {
            if *number == NUMBER {
                WebResponse::Challenge {
                    options: json!({"publicKey": {"challenge": "AAAA"}}),
                }
            } else {
                WebResponse::Failed {
                    kind: WebFailure::WrongNumber,
                    message: "wrong number; the sign-in is denied".into(),
                }
            }
        }
        WebRequest::ApprovalFinish { id, .. } if known(id) => WebResponse::Approved,
        WebRequest::ApprovalDeny { id, .. } if known(id) => WebResponse::Denied,
        WebRequest::PushSubscribe { link, .. } if known(link) => WebResponse::Subscribed,
        WebRequest::PushKey => WebResponse::PushKey {
            key: Some("BKEY".into()),
        },
        _ => gone(),
    }
}

/// What came back.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A request from `peer` through `router`.
async fn send_from(router: &Router, peer: &str, request: Request<Body>) -> Answer {
    let mut request = request;
    request
        .extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    send_from(router, "192.0.2.10:40000", request).await
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}
