use std::time::Duration;

use super::approvals::SignIn;
use super::*;
use crate::username::UserName;

fn user(name: &str) -> UserName {
    UserName::of_stored(name.to_owned()).unwrap()
}

fn sign_in(name: &str) -> SignIn {
    SignIn {
        user: user(name),
        host: "host".to_owned(),
        service: "sshd".to_owned(),
        source: "192.0.2.7".to_owned(),
    }
}

const LIFE: PushLimits = PushLimits {
    life: Duration::from_secs(60),
    per_hour: 5,
    cooldown: Duration::from_secs(15 * 60),
};

#[test]
fn a_wrong_number_ends_the_request_and_tells_the_sign_in() {
    let approvals = Approvals::default();
    let now = UnixTime::from_secs(1_000);
    let new = approvals.request(sign_in("alice"), now, LIFE).unwrap();
    let view = approvals.view(&new.id, now).unwrap();
    assert!(view.choices.contains(&new.number));
    let wrong = (10..100).find(|n| *n != new.number).unwrap();
    assert_eq!(
        approvals.check_number(&new.id, wrong, now),
        Some(Err(user("alice")))
    );
    assert_eq!(*new.ended.borrow(), Some(ApprovalEnd::WrongNumber));
    assert_eq!(approvals.check_number(&new.id, new.number, now), None);
}

#[test]
fn a_request_expires_and_a_new_one_ends_the_users_earlier_one() {
    let approvals = Approvals::default();
    let now = UnixTime::from_secs(1_000);
    let first = approvals.request(sign_in("alice"), now, LIFE).unwrap();
    let other = approvals.request(sign_in("bob"), now, LIFE).unwrap();
    let second = approvals.request(sign_in("alice"), now, LIFE).unwrap();
    assert!(approvals.view(&first.id, now).is_none());
    assert!(approvals.view(&other.id, now).is_some());
    let later = UnixTime::from_secs(1_000 + LIFE.life.as_secs());
    assert!(approvals.view(&second.id, later).is_none());
    assert_eq!(
        approvals.check_number(&second.id, second.number, later),
        None
    );
}

#[test]
fn requests_per_hour_are_limited_and_not_me_quiets_notifications() {
    let approvals = Approvals::default();
    let mut now = UnixTime::from_secs(10_000);
    for _ in 0..LIFE.per_hour {
        approvals.request(sign_in("alice"), now, LIFE).unwrap();
        now = UnixTime::from_secs(now.secs() + 60);
    }
    assert_eq!(
        approvals.request(sign_in("alice"), now, LIFE).unwrap_err(),
        ApprovalRefused::TooMany
    );
    let bob = approvals.request(sign_in("bob"), now, LIFE).unwrap();
    assert_eq!(
        approvals.end(&bob.id, ApprovalEnd::Denied { not_me: true }, now),
        Some(user("bob"))
    );
    let quiet = approvals.request(sign_in("bob"), now, LIFE).unwrap();
    let until = UnixTime::from_secs(now.secs() + LIFE.cooldown.as_secs());
    assert_eq!(quiet.quiet_until, Some(until));
    let alices = approvals.request(sign_in("carol"), now, LIFE).unwrap();
    assert_eq!(alices.quiet_until, None, "the pause is bob's alone");
    let after = approvals.request(sign_in("bob"), until, LIFE).unwrap();
    assert_eq!(after.quiet_until, None);
    let hour_later = UnixTime::from_secs(10_000 + 3_600);
    assert!(
        approvals
            .request(sign_in("alice"), hour_later, LIFE)
            .is_ok()
    );
}

#[test]
fn an_enrollment_link_dies_with_its_waiter_and_after_expiry() {
    let links = Links::default();
    let now = UnixTime::from_secs(1_000);
    let (token, expires, waiter) = links.create(user("alice"), "phone".into(), now).unwrap();
    assert!(token_shape_ok(&token));
    assert_eq!(
        links.user_of(&token, now).map(|(u, _)| u),
        Some(user("alice"))
    );
    assert!(links.user_of(&token, expires).is_none());
    let (token, _, waiter2) = links.create(user("alice"), "phone".into(), now).unwrap();
    drop(waiter);
    assert!(links.user_of(&token, now).is_some());
    drop(waiter2);
    assert!(links.user_of(&token, now).is_none());
}

#[test]
fn odd_tokens_are_refused_by_shape() {
    for bad in ["", "../etc", "a b", &"a".repeat(MAX_TOKEN_LEN + 1), "é"] {
        assert!(!token_shape_ok(bad), "{bad:?}");
    }
}

#[test]
fn a_used_link_lets_its_page_subscribe_until_it_would_have_expired() {
    let links = Links::default();
    let now = UnixTime::from_secs(1_000);
    let (token, expires, _waiter) = links.create(user("alice"), "phone".into(), now).unwrap();
    links.enrolled(&token, now);
    assert!(links.user_of(&token, now).is_none(), "spent for enrolling");
    assert_eq!(links.subscriber_of(&token, now), Some(user("alice")));
    assert_eq!(links.subscriber_of(&token, expires), None);
    assert_eq!(links.subscriber_of("someone-elses-token", now), None);
}
