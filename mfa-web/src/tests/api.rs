//! The pages and the API through the router.

use axum::http::StatusCode;
use mfa_proto::web::WebRequest;
use serde_json::json;

use super::*;

const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("strict-transport-security", "max-age=31536000"),
];

fn assert_hardened(answer: &Answer, what: &str) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            answer.headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{what}: {name}"
        );
    }
}

#[tokio::test]
async fn pages_assets_and_api_answers_carry_the_security_headers() {
    let daemon = StandIn::start();
    let router = daemon.router();
    for (path, content_type) in [
        (format!("/enroll/{LINK}"), "text/html; charset=utf-8"),
        (format!("/approve/{LINK}"), "text/html; charset=utf-8"),
        ("/app.js".to_owned(), "text/javascript; charset=utf-8"),
        ("/app.css".to_owned(), "text/css; charset=utf-8"),
        ("/sw.js".to_owned(), "text/javascript; charset=utf-8"),
        (
            "/manifest.webmanifest".to_owned(),
            "application/manifest+json",
        ),
        ("/".to_owned(), "text/html; charset=utf-8"),
    ] {
        let answer = send(&router, get(&path)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.headers["content-type"], content_type, "{path}");
        assert_hardened(&answer, &path);
    }
    let answer = send(&router, post(&format!("/api/approve/{LINK}"), "")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_hardened(&answer, "the API");
    for refused in [
        send(&router, get("/no/such/page")).await,
        send(&router, post(&format!("/api/approve/{GONE}"), "")).await,
    ] {
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
        assert_hardened(&refused, "a 404");
    }
    // The pages hold no inline script for the CSP to refuse.
    let page = send(&router, get(&format!("/approve/{LINK}"))).await;
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("<script src=\"/app.js\""), "{html}");
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );
    let handler = html.split(" on").skip(1).find(|rest| {
        let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    });
    assert!(handler.is_none(), "an inline handler: on{handler:?}");
}

#[tokio::test]
async fn each_call_is_one_request_to_the_daemon_with_the_clients_address() {
    let daemon = StandIn::start();
    let router = daemon.router();
    let opened = send(&router, post(&format!("/api/enroll/{LINK}"), "")).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert_eq!(opened.json()["user"], "alice");
    assert_eq!(opened.json()["label"], "phone");
    assert_eq!(opened.json()["options"]["publicKey"]["challenge"], "AAAA");
    assert_eq!(
        daemon.last(),
        WebRequest::EnrollmentOpen {
            token: LINK.into(),
            from: "192.0.2.10".into()
        }
    );
    let credential = json!({"id": "x", "rawId": "eA", "type": "public-key", "extensions": {},
        "response": {"attestationObject": "o", "clientDataJSON": "c"}});
    let body = json!({ "credential": credential }).to_string();
    let done = send(&router, post(&format!("/api/enroll/{LINK}/finish"), &body)).await;
    assert_eq!(done.json(), json!({"status": "enrolled", "label": "phone"}));
    assert!(
        matches!(daemon.last(), WebRequest::EnrollmentFinish { credential: c, .. } if c == credential)
    );
    let view = send(&router, post(&format!("/api/approve/{LINK}"), ""))
        .await
        .json();
    assert_eq!(view["approval"]["choices"], json!([12, 47, 83]));
    let challenge = send(
        &router,
        post(&format!("/api/approve/{LINK}/number"), r#"{"number":47}"#),
    )
    .await
    .json();
    assert_eq!(challenge["status"], "challenge");
    let assertion = json!({"assertion": {"id": "x"}}).to_string();
    let approved = send(
        &router,
        post(&format!("/api/approve/{LINK}/finish"), &assertion),
    )
    .await;
    assert_eq!(approved.json(), json!({"status": "approved"}));
    let denied = send(
        &router,
        post(&format!("/api/approve/{LINK}/deny"), r#"{"not_me":true}"#),
    )
    .await;
    assert_eq!(denied.json(), json!({"status": "denied"}));
    assert!(matches!(
        daemon.last(),
        WebRequest::ApprovalDeny { not_me: true, .. }
    ));
    let key = send(&router, get("/api/push/key")).await.json();
    assert_eq!(key, json!({"key": "BKEY"}));
    let subscription =
        json!({"link": LINK, "subscription": {"endpoint": "https://push.example/1"}});
    let subscribed = send(
        &router,
        post("/api/push/subscribe", &subscription.to_string()),
    )
    .await;
    assert_eq!(subscribed.json(), json!({"status": "subscribed"}));
    assert_eq!(daemon.count(), 8);
}

#[tokio::test]
async fn the_daemons_refusals_become_statuses_with_their_words() {
    let daemon = StandIn::start();
    let router = daemon.router();
    let wrong = send(
        &router,
        post(&format!("/api/approve/{LINK}/number"), r#"{"number":12}"#),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(
        wrong.json(),
        json!({"error": "wrong_number", "message": "wrong number; the sign-in is denied"})
    );
    let gone = send(&router, post(&format!("/api/enroll/{GONE}"), "")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()["error"], "not_found");
    use crate::error::failure_status;
    use mfa_proto::web::WebFailure;
    for (kind, status) in [
        (WebFailure::NotFound, 404),
        (WebFailure::WrongNumber, 403),
        (WebFailure::NotVerified, 403),
        (WebFailure::BadRequest, 400),
        (WebFailure::RateLimited, 429),
        (WebFailure::NotAuthorized, 500),
        (WebFailure::Internal, 500),
    ] {
        assert_eq!(failure_status(kind).0.as_u16(), status, "{kind:?}");
    }
}

#[tokio::test]
async fn an_oversized_body_is_413_and_never_reaches_the_daemon() {
    let daemon = StandIn::start();
    let router = daemon.router();
    let big = json!({"assertion": {"pad": "x".repeat(17 * 1024)}}).to_string();
    let answer = send(&router, post(&format!("/api/approve/{LINK}/finish"), &big)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json()["error"], "too_large");
    assert_hardened(&answer, "a 413");
    // Just under the limit passes.
    let fits = json!({"assertion": {"pad": "x".repeat(15 * 1024)}}).to_string();
    let answer = send(&router, post(&format!("/api/approve/{LINK}/finish"), &fits)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(daemon.count(), 1);
}

#[tokio::test]
async fn malformed_json_is_400_and_never_reaches_the_daemon() {
    let daemon = StandIn::start();
    let router = daemon.router();
    let number = format!("/api/approve/{LINK}/number");
    for body in [
        "{not json",
        "",
        r#"{"number":"47"}"#,
        r#"{"number":470}"#,
        r#"{"number":47,"user":"root"}"#,
        r#"[47]"#,
    ] {
        let answer = send(&router, post(&number, body)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.json()["error"], "bad_request", "{body}");
    }
    let finish = format!("/api/approve/{LINK}/finish");
    let answer = send(&router, post(&finish, r#"{"assertion":"a string"}"#)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    // A body that is not declared JSON (a cross-site form could send that) is refused too.
    let form = Request::post(&number)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("number=47"))
        .unwrap();
    assert_eq!(
        send(&router, form).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(daemon.count(), 0);
}

#[tokio::test]
async fn a_link_of_the_wrong_shape_is_404_and_never_reaches_the_daemon() {
    let daemon = StandIn::start();
    let router = daemon.router();
    let long = "A".repeat(65);
    for link in [
        "short",
        long.as_str(),
        "AAAAAAAAAA%2EAAAAAAAAAAA",
        "AAAAAAAAAA%00AAAAAAAAAAA",
    ] {
        for path in [
            format!("/api/enroll/{link}"),
            format!("/api/approve/{link}"),
        ] {
            let answer = send(&router, post(&path, "")).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(answer.json()["error"], "not_found", "{path}");
        }
        let page = send(&router, get(&format!("/approve/{link}"))).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{link}");
    }
    let subscription = json!({"link": "../../etc", "subscription": {}}).to_string();
    let answer = send(&router, post("/api/push/subscribe", &subscription)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(daemon.count(), 0);
}

#[tokio::test]
async fn an_address_over_its_rate_is_429_and_others_go_on() {
    let daemon = StandIn::start();
    let policy = RatePolicy {
        burst: 3,
        every: Duration::from_secs(60),
        max_clients: 16,
    };
    let uid = nix::unistd::getuid().as_raw();
    let router = daemon.router_trusting(vec![uid], policy, false);
    let path = format!("/api/approve/{LINK}");
    for _ in 0..3 {
        let answer = send_from(&router, "198.51.100.1:1000", post(&path, "")).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let limited = send_from(&router, "198.51.100.1:1001", post(&path, "")).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json()["error"], "rate_limited");
    assert_eq!(limited.headers["retry-after"], "60");
    assert_hardened(&limited, "a 429");
    assert_eq!(daemon.count(), 3);
    let other = send_from(&router, "198.51.100.2:1000", post(&path, "")).await;
    assert_eq!(other.status, StatusCode::OK);
    // Pages are not counted: they reach nothing.
    let page = send_from(
        &router,
        "198.51.100.1:1002",
        get(&format!("/approve/{LINK}")),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test]
async fn behind_a_local_proxy_the_forwarded_address_is_counted_and_passed_on() {
    let daemon = StandIn::start();
    let policy = RatePolicy {
        burst: 1,
        every: Duration::from_secs(60),
        max_clients: 16,
    };
    let uid = nix::unistd::getuid().as_raw();
    let router = daemon.router_trusting(vec![uid], policy, true);
    let via_proxy = |client: &str| {
        Request::post(format!("/api/approve/{LINK}"))
            .header("x-forwarded-for", format!("203.0.113.66, {client}"))
            .body(Body::empty())
            .unwrap()
    };
    let answer = send_from(&router, "127.0.0.1:5000", via_proxy("198.51.100.9")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        matches!(daemon.last(), WebRequest::ApprovalOpen { from, .. } if from == "198.51.100.9")
    );
    let again = send_from(&router, "127.0.0.1:5000", via_proxy("198.51.100.9")).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    let another = send_from(&router, "127.0.0.1:5000", via_proxy("198.51.100.10")).await;
    assert_eq!(another.status, StatusCode::OK);
}

#[tokio::test]
async fn a_post_from_another_sites_page_is_refused() {
    let daemon = StandIn::start();
    let router = daemon.router();
    let request = |origin: &str| {
        Request::post(format!("/api/approve/{LINK}/deny"))
            .header("content-type", "application/json")
            .header("origin", origin)
            .body(Body::from(r#"{"not_me":false}"#))
            .unwrap()
    };
    let answer = send(&router, request("https://evil.example")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["error"], "cross_origin");
    assert_eq!(daemon.count(), 0);
    let answer = send(&router, request("https://mfa.example.com")).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn with_the_daemon_down_the_api_says_so_with_503() {
    let daemon = StandIn::start();
    let router = daemon.router();
    std::fs::remove_file(web_socket(&daemon.public())).unwrap();
    let answer = send(&router, post(&format!("/api/approve/{LINK}"), "")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.json()["error"], "unavailable");
    let message = answer.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("not answering"), "{message}");
    assert_hardened(&answer, "a 503");
}

#[tokio::test]
async fn a_listener_under_an_untrusted_uid_is_refused_before_anything_is_sent() {
    let daemon = StandIn::start();
    let me = nix::unistd::getuid().as_raw();
    // The stand-in runs as this test's uid; trust only another.
    let router = daemon.router_trusting(vec![me.wrapping_add(4242)], RatePolicy::default(), false);
    let answer = send(&router, post(&format!("/api/approve/{LINK}"), "")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(daemon.count(), 0);
    let state_err = crate::daemon::Daemon::new(
        &daemon.public(),
        vec![me.wrapping_add(4242)],
        Duration::from_secs(1),
    )
    .call(&WebRequest::PushKey)
    .await
    .unwrap_err();
    assert!(
        state_err.to_string().contains(&format!("runs as uid {me}")),
        "{state_err}"
    );
}
