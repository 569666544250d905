//! `[store]`: each refusal names its key, and no refusal shows a password.

use super::parse;
use crate::config::{Engine, StoreConfig};

#[test]
fn store_settings_are_checked_and_each_refusal_names_its_key() {
    let pg = "[store]\nengine = \"postgres\"\nkey_file = \"/etc/mfa/store.key\"\n";
    for (text, key, words) in [
        (
            "[store]\nurl = \"host=db user=mfa\"\n".to_owned(),
            "store.url",
            "the engine is \"files\"",
        ),
        (pg.to_owned(), "store.engine", "needs `url` or `url_file`"),
        (
            "[store]\nengine = \"postgres\"\nurl_file = \"/etc/mfa/db\"\n".to_owned(),
            "store.key_file",
            "head -c 32 /dev/urandom",
        ),
        (
            format!("{pg}url = \"host=127.0.0.1 user=mfa password=hunter2\"\n"),
            "store.url",
            "url_file",
        ),
        (
            format!("{pg}url = \"host=db.example user=mfa dbname=mfa\"\n"),
            "store.url",
            "sslmode=verify-full",
        ),
        (
            format!("{pg}url = \"host=127.0.0.1 user=mfa sslmode=prefer\"\n"),
            "store.url",
            "turn TLS off",
        ),
        (
            format!("{pg}url = \"host=127.0.0.1 dbname=mfa\"\n"),
            "store.url",
            "names no user",
        ),
        (
            format!("{pg}url_file = \"/etc/mfa/db\"\npool_size = 0\n"),
            "store.pool_size",
            "between 1 and 64, got 0",
        ),
        (
            format!("{pg}url_file = \"/etc/mfa/db\"\ntimeout = \"1m\"\n"),
            "store.timeout",
            "between 100ms and 30s",
        ),
        (
            format!("{pg}url_file = \"/etc/mfa/db\"\nurl = \"host=127.0.0.1 user=mfa\"\n"),
            "store.url",
            "not both",
        ),
    ] {
        let e = parse(&text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
        assert!(e.to_string().contains(words), "{text}: {e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
    let e = parse("[store]\nengine = \"sqlite\"\n").unwrap_err();
    assert!(e.to_string().contains("sqlite"), "{e}");
    for url in [
        "host=db.example user=mfa dbname=mfa sslmode=verify-full",
        "postgresql://mfa@db.example/mfa?sslmode=require",
        "host=127.0.0.1 port=5433 user=mfa dbname=mfa",
        "host=/run/postgresql user=mfa dbname=mfa",
    ] {
        let c = parse(&format!("{pg}url = \"{url}\"\n")).unwrap();
        assert_eq!(c.store.engine, Engine::Postgres, "{url}");
    }
    let c = parse(&format!("{pg}url_file = \"store-url\"\n")).unwrap();
    assert_eq!(c.store.pool_size, 8);
    assert_eq!(parse("").unwrap().store, StoreConfig::default());
}
